"""Importing robust ImageNet checkpoints: torchvision's own ResNet is the reference network."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from conftest import script_main
from torchvision.models import resnet18, resnet50

from advinfo.datasets.builders import BuildOptions, build_dataset
from advinfo.datasets.images import save_dataset
from advinfo.nets.checkpoint import check_classes, load_model
from advinfo.nets.imported import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CheckpointError,
    file_sha256,
    import_checkpoint,
)


class RunsCode:
    """Unpickling this object would create ``marker``: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def robustness_file(path: Path, net: torch.nn.Module, mean, std, prefix: str = "module.") -> str:
    """A checkpoint laid out as the robustness library writes it; returns its SHA-256."""
    state = {f"{prefix}model.{k}": v for k, v in net.state_dict().items()}
    state |= {f"{prefix}attacker.model.{k}": v for k, v in net.state_dict().items()}
    state[f"{prefix}normalizer.new_mean"] = torch.tensor(mean).view(3, 1, 1)
    state[f"{prefix}normalizer.new_std"] = torch.tensor(std).view(3, 1, 1)
    state[f"{prefix}attacker.normalize.new_mean"] = torch.tensor(mean).view(3, 1, 1)
    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]}
    torch.save({"model": state, "optimizer": optimizer, "schedule": None, "epoch": 89}, path)
    return file_sha256(path)


def reference_logits(net: torch.nn.Module, x: torch.Tensor, mean, std) -> torch.Tensor:
    with torch.no_grad():
        return net.eval()((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_robustness_checkpoint_gives_the_same_network(tmp_path, prefix):
    torch.manual_seed(0)
    net = resnet18(num_classes=7)
    for m in net.modules():  # non-trivial running statistics, so a misplaced buffer would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    mean, std = (0.4, 0.45, 0.5), (0.2, 0.25, 0.3)
    sha = robustness_file(tmp_path / "ckpt.pt", net, mean, std, prefix)
    model, info = import_checkpoint(tmp_path / "ckpt.pt", sha, "robustness", "resnet18_imagenet")
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_logits(net, x, mean, std))
    assert info["num_classes"] == 7 and info["epoch"] == 89
    assert info["mean"] == pytest.approx(mean) and info["std"] == pytest.approx(std)
    assert model.feature_dim == 512


@pytest.mark.parametrize("wrapped", [False, True])
def test_torchvision_state_dict_uses_imagenet_statistics(tmp_path, wrapped):
    torch.manual_seed(1)
    net = resnet50(num_classes=5)
    state = net.state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}} if wrapped else state, tmp_path / "w.pt")
    model, info = import_checkpoint(
        tmp_path / "w.pt", file_sha256(tmp_path / "w.pt"), "torchvision", "resnet50_imagenet"
    )
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_logits(net, x, IMAGENET_MEAN, IMAGENET_STD))
    assert model.feature_dim == 2048 and info["epoch"] is None


def test_a_malicious_pickle_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": RunsCode(marker), "epoch": 1}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match=r"evil.pt needs code to unpickle and was refused"):
        import_checkpoint(path, file_sha256(path), "robustness", "resnet18_imagenet")
    assert not marker.exists()


def test_the_pinned_sha256_is_checked_before_reading(tmp_path, monkeypatch):
    torch.save(resnet18(num_classes=3).state_dict(), tmp_path / "w.pt")
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("read a file whose hash did not match"))
    with pytest.raises(CheckpointError, match=r"w.pt has SHA-256 [0-9a-f]{64}, but the config pins 0+"):
        import_checkpoint(tmp_path / "w.pt", "0" * 64, "torchvision", "resnet18_imagenet")


def test_wrong_architecture_and_truncated_files_name_the_file(tmp_path):
    torch.save(resnet18(num_classes=3).state_dict(), tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match=r"w.pt does not fit resnet50_imagenet"):
        import_checkpoint(tmp_path / "w.pt", file_sha256(tmp_path / "w.pt"), "torchvision", "resnet50_imagenet")
    data = (tmp_path / "w.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut.pt is corrupt or truncated"):
        import_checkpoint(tmp_path / "cut.pt", file_sha256(tmp_path / "cut.pt"), "torchvision", "resnet18_imagenet")
    with pytest.raises(FileNotFoundError, match=r"nowhere.pt does not exist"):
        import_checkpoint(tmp_path / "nowhere.pt", "0" * 64, "torchvision", "resnet18_imagenet")


@pytest.mark.slow
def test_an_imported_model_enters_the_dag_like_a_pretrained_one(tiny_run):
    """The tiny run imports a robustness-library ResNet-18 (conftest.add_imported_model)."""
    folder = tiny_run / "results" / "pretrain" / "imnet" / "resnet18_imagenet" / "pgd-eps1-seed0"
    model, meta = load_model(folder / "model.pt")
    torch.manual_seed(0)
    net = resnet18(num_classes=10)  # the network the checkpoint was written from
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference_logits(net, x, (0.5,) * 3, (0.25,) * 3))
    checkpoint = tiny_run / "resources" / "imported" / "robust_resnet18.pt"
    assert meta["checkpoint_sha256"] == file_sha256(checkpoint) and meta["image_size"] == 16
    for name in ("robustness.json", "fisher.json", "posterior.json", "tsne.csv", "inversion.json"):
        assert (folder / name).stat().st_size > 0, name
    transfer = pd.read_csv(tiny_run / "results" / "tables" / "transfer.csv")
    assert set(transfer.loc[transfer["source"] == "imnet", "mode"]) == {"linear", "finetune0", "finetune2"}


def test_an_imported_model_whose_images_have_other_classes_is_refused(tmp_path):
    """A 7-class checkpoint with a 10-class images dataset would evaluate to ~0 % without a word."""
    torch.manual_seed(0)
    sha = robustness_file(tmp_path / "ckpt.pt", resnet18(num_classes=7), (0.5,) * 3, (0.25,) * 3)
    save_dataset(build_dataset("digits"), tmp_path / "digits.npz")
    entry = {
        "path": str(tmp_path / "ckpt.pt"),
        "sha256": sha,
        "format": "robustness",
        "arch": "resnet18_imagenet",
        "images": "digits",
        "image_size": 16,
    }
    smk = SimpleNamespace(
        params=SimpleNamespace(entry=entry),
        input=SimpleNamespace(images=str(tmp_path / "digits.npz")),
        wildcards=SimpleNamespace(source="imnet", method="pgd", eps="1"),
        output=SimpleNamespace(model=str(tmp_path / "model.pt"), metrics=str(tmp_path / "metrics.csv")),
    )
    with pytest.raises(
        ValueError,
        match=rf"checkpoint {tmp_path}/ckpt.pt has 7 classes, but its imported\[\].images "
        rf"dataset 'digits' \({tmp_path}/digits.npz\) has 10",
    ):
        script_main("import_model")(smk)
    assert not (tmp_path / "model.pt").exists()


def test_a_model_is_measured_only_on_its_own_classes(trained_digits_model, digits):
    _, _, meta = trained_digits_model
    check_classes(meta, digits, "model.pt", "digits.npz")
    letters = build_dataset("letters", BuildOptions.from_schema(n_train=52, n_test=26))
    with pytest.raises(
        ValueError,
        match=r"model model.pt has 10 classes \(0, 1, 2, 3, ...\), but dataset letters.npz "
        r"has 26 \(A, B, C, D, ...\)",
    ):
        check_classes(meta, letters, "model.pt", "letters.npz")
    renamed = type(digits)(**{**vars(digits), "classes": tuple("abcdefghij")})
    with pytest.raises(ValueError, match="has 10 classes .* has 10 "):
        check_classes(meta, renamed, "model.pt", "renamed.npz")
