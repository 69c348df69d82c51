"""Models expose z and the head, normalise inside, and round-trip through safe files."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from advinfo.nets.checkpoint import load_model, save_model, weights_hash
from advinfo.nets.models import ARCHS, build_model, weight_norm, with_head


@pytest.mark.parametrize(
    "arch,width,dim,stages", [("resnet_mini", 8, 32, 3), ("resnet18", None, 512, 4), ("resnet50", None, 2048, 4)]
)
def test_architectures_expose_features_head_and_stages(arch, width, dim, stages):
    model = build_model(arch, num_classes=7, width=width).eval()
    x = torch.rand(2, 3, 32, 32)
    z = model.features(x)
    assert z.shape == (2, dim) and model.feature_dim == dim
    assert isinstance(model.head, nn.Linear) and model.head.in_features == dim
    assert torch.allclose(model(x), model.head(z))
    assert len(model.stages) == stages


def test_cifar_stem_keeps_resolution():
    """3x3 stride-1 stem and no max-pool: layer1 sees the full 32x32 input."""
    model = build_model("resnet18", 10).eval()
    seen = {}
    model.stages[0].register_forward_hook(lambda m, i, o: seen.update(shape=o.shape))
    model(torch.rand(1, 3, 32, 32))
    assert seen["shape"][-2:] == (32, 32)
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)


def test_normalisation_is_a_layer_in_pixel_space():
    model = build_model("resnet_mini", 3, mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5), width=4)
    state = model.state_dict()
    assert torch.allclose(state["normalize.mean"].flatten(), torch.tensor([0.1, 0.2, 0.3]))
    x = torch.full((1, 3, 4, 4), 0.6)
    assert torch.allclose(model.normalize(x)[0, :, 0, 0], torch.tensor([1.0, 0.8, 0.6]))


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown architecture 'vgg'.*resnet_mini"):
        build_model("vgg", 10)
    assert set(ARCHS) == {"resnet_mini", "resnet18", "resnet50", "resnet18_imagenet", "resnet50_imagenet"}


def test_weight_norm_is_the_l2_norm_of_all_parameters():
    model = build_model("resnet_mini", 10, width=4)
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert weight_norm(model) == pytest.approx(float(flat.norm()), rel=1e-5)


def test_checkpoint_roundtrip_with_weights_only(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet_mini", 5, mean=(0.3,) * 3, std=(0.2,) * 3, width=4).eval()
    meta = {"arch": "resnet_mini", "num_classes": 5, "mean": [0.3] * 3, "std": [0.2] * 3, "width": 4, "image_size": 8}
    path = tmp_path / "model.pt"
    save_model(model, meta, path)
    raw = torch.load(path, weights_only=True)  # the documented safe path works directly
    assert set(raw) == {"state_dict", "meta"}
    back, back_meta = load_model(path)
    x = torch.rand(3, 3, 8, 8)
    assert torch.equal(back(x), model(x))
    assert back_meta == meta and weights_hash(back) == weights_hash(model)


class _Exploit:
    """Unpickling this would run ``open(marker, 'w')``: it must never happen."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_code_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "meta": _Exploit(str(marker))}, path, pickle_module=pickle)
    with pytest.raises(ValueError, match="evil.pt holds objects that need code to unpickle; refused"):
        load_model(path)
    assert not marker.exists()


def test_truncated_checkpoint_names_the_file(tmp_path):
    model = build_model("resnet_mini", 2, width=4)
    meta = {"arch": "resnet_mini", "num_classes": 2, "mean": [0.5] * 3, "std": [0.25] * 3, "width": 4, "image_size": 8}
    path = tmp_path / "model.pt"
    save_model(model, meta, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="model.pt is corrupt, truncated"):
        load_model(path)


def test_with_head_copies_the_network_and_leaves_the_source_alone():
    model = build_model("resnet_mini", 4, width=4).eval()
    head = nn.Linear(model.feature_dim, 7)
    new = with_head(model, head).eval()
    x = torch.rand(3, 3, 8, 8)
    assert new(x).shape == (3, 7) and model(x).shape == (3, 4)
    with torch.no_grad():
        new.stem[0].weight.add_(1.0)
    assert not torch.equal(new.stem[0].weight, model.stem[0].weight)
    with pytest.raises(ValueError, match="head takes 5 features, the model gives 16"):
        with_head(model, nn.Linear(5, 2))


def test_width_narrows_resnet18_and_only_the_architectures_that_take_it():
    from advinfo.nets.models import DEFAULT_WIDTH
    from advinfo.plan.grid import WIDE_ARCHS

    assert set(DEFAULT_WIDTH) == set(WIDE_ARCHS)
    narrow = build_model("resnet18", 10, width=8)
    assert narrow.feature_dim == 64 and [narrow.stage_channels(i) for i in range(4)] == [8, 16, 32, 64]
    assert sum(len(stage) for stage in narrow.stages) == 8  # ResNet-18's eight BasicBlocks
    assert build_model("resnet18", 10).feature_dim == build_model("resnet18", 10, width=64).feature_dim == 512
    with pytest.raises(ValueError, match="model.width 8 applies to resnet_mini and resnet18 only"):
        build_model("resnet50", 10, width=8)


@pytest.mark.parametrize("arch", ["resnet_mini", "resnet18", "resnet50"])
def test_fake_relu_keeps_the_values_and_passes_gradients_of_units_that_are_off(arch):
    from advinfo.nets.models import _pre_activation

    torch.manual_seed(0)
    model = build_model(arch, 3, width=8 if arch != "resnet50" else None).eval()
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    torch.testing.assert_close(model.features(x, fake_relu=True), model.features(x))
    (fake,) = torch.autograd.grad(model.features(x, fake_relu=True).sum(), x)
    h = model.stem(model.normalize(x))
    for stage in model.stages[:-1]:
        h = stage(h)
    for block in model.stages[-1][:-1]:
        h = block(h)
    (identity,) = torch.autograd.grad(model.pool(_pre_activation(model.stages[-1][-1], h)).sum(), x)
    torch.testing.assert_close(fake, identity)  # the last ReLU's backward is the identity
    (real,) = torch.autograd.grad(model.features(x).sum(), x)
    assert not torch.allclose(fake, real)


@pytest.mark.parametrize("inplanes,planes,stride", [(8, 8, 1), (8, 16, 2)])
def test_basic_block_is_torchvisions(inplanes, planes, stride):
    """models.BasicBlock stands in for torchvision's (whose import costs every job a second): the
    same parameter names and shapes, the same initial weights from the same seed, the same output."""
    from torchvision.models.resnet import BasicBlock as TorchvisionBlock

    from advinfo.nets.models import BasicBlock

    def pair(cls):
        torch.manual_seed(0)
        down = (
            None
            if stride == 1
            else nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        )
        return cls(inplanes, planes, stride, down)

    ours, theirs = pair(BasicBlock), pair(TorchvisionBlock)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, inplanes, 8, 8)
    for mode in (True, False):
        ours.train(mode), theirs.train(mode)
        assert torch.equal(ours(x), theirs(x))
