"""AR-AT: the stop-gradient invariance term, split BatchNorm, the accuracy weighting, and the
plain network it leaves behind."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import pretrain_digits
from torch import nn

from advinfo.datasets.images import model_inputs
from advinfo.nets.models import Normalize, build_model, resnet_mini
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.robust.accuracy import accuracy
from advinfo.training.loop import Trainer
from advinfo.training.methods.arat import (
    ACCURACY_IMAGES,
    ARATLoss,
    SplitBatchNorm,
    bn_branch,
    merge_adversarial,
    split_batchnorm,
    weight_images,
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return resnet_mini(4, Normalize((0.5,) * 3, (0.25,) * 3), width=4)


def batch(seed: int = 1, n: int = 8):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 8, 8, generator=gen)
    return x, (x + 0.2 * torch.randn(x.shape, generator=gen)).clamp(0, 1), torch.randint(0, 4, (n,), generator=gen)


def branch_grads(model: nn.Module, branch: str) -> list[torch.Tensor]:
    splits = [m for m in model.modules() if isinstance(m, SplitBatchNorm)]
    return [p.grad for m in splits for p in getattr(m, branch).parameters()]


def test_no_gradient_reaches_the_clean_branch_through_the_invariance_term(model):
    split_batchnorm(model)
    loss_fn = ARATLoss(model, alpha=30.0, layer=-1)
    loss_fn.set_w_adv(1.0)  # the clean cross-entropy weighs 0: what is left is CE(x_adv) + the invariance term
    x, x_adv, y = batch()
    x.requires_grad_(True)
    loss, _ = loss_fn(x, x_adv, y)
    loss.backward()
    assert x.grad is None or torch.count_nonzero(x.grad) == 0
    assert all(g is None or torch.count_nonzero(g) == 0 for g in branch_grads(model, "clean"))
    assert all(g is not None and torch.count_nonzero(g) > 0 for g in branch_grads(model, "adv"))
    assert all(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in loss_fn.predictor.parameters())

    model.zero_grad()  # with weight on the clean cross-entropy, the clean branch does learn
    loss_fn.set_w_adv(0.5)
    loss_fn(x, x_adv, y)[0].backward()
    assert any(g is not None and torch.count_nonzero(g) > 0 for g in branch_grads(model, "clean"))


def test_the_loss_is_weighted_cross_entropies_plus_alpha_times_one_minus_cosine(model):
    split_batchnorm(model)
    loss_fn = ARATLoss(model, alpha=3.0, layer=1)
    loss_fn.set_w_adv(0.3)
    x, x_adv, y = batch()
    model.eval()
    loss_fn.eval()  # eval: BatchNorm statistics fixed, so recomputing the passes gives the same values
    loss, logits = loss_fn(x, x_adv, y)
    with bn_branch(model, "clean"):
        clean = model(x)
        h_clean = model.pool(model.stages[1](model.stages[0](model.stem(model.normalize(x)))))
    h_adv = model.pool(model.stages[1](model.stages[0](model.stem(model.normalize(x_adv)))))
    cosine = F.cosine_similarity(loss_fn.predictor(h_adv), h_clean, dim=1).mean()
    expected = 0.3 * F.cross_entropy(model(x_adv), y) + 0.7 * F.cross_entropy(clean, y) + 3.0 * (1 - cosine)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logits, model(x_adv))
    assert loss_fn.predictor[0].out_features == model.stage_channels(1) // 4


def test_the_two_batchnorm_branches_keep_separate_statistics(model):
    plain_clean, plain_adv = copy.deepcopy(model), copy.deepcopy(model)
    split_batchnorm(model)
    x, x_adv, y = batch()
    ARATLoss(model, alpha=1.0, layer=-1)(x, x_adv, y)  # train mode: one clean and one adversarial pass
    plain_clean(x)  # references: the unsplit network fed one kind of input only
    plain_adv(x_adv)
    splits = [m for m in model.modules() if isinstance(m, SplitBatchNorm)]
    clean_refs = [m for m in plain_clean.modules() if isinstance(m, nn.BatchNorm2d)]
    adv_refs = [m for m in plain_adv.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(splits) == len(clean_refs) > 0
    for split, ref_c, ref_a in zip(splits, clean_refs, adv_refs, strict=True):
        torch.testing.assert_close(split.clean.running_mean, ref_c.running_mean)
        torch.testing.assert_close(split.clean.running_var, ref_c.running_var)
        torch.testing.assert_close(split.adv.running_mean, ref_a.running_mean)
        torch.testing.assert_close(split.adv.running_var, ref_a.running_var)
    assert not torch.allclose(splits[0].clean.running_mean, splits[0].adv.running_mean)


def test_evaluation_uses_the_adversarial_branch_and_merging_keeps_it(model):
    split_batchnorm(model)
    x, x_adv, y = batch()
    ARATLoss(model, alpha=1.0, layer=-1)(x, x_adv, y)
    model.eval()
    with torch.no_grad():
        adv_out = model(x)
        with bn_branch(model, "clean"):
            clean_out = model(x)
        assert not torch.allclose(adv_out, clean_out)
        merged = merge_adversarial(copy.deepcopy(model))
        torch.testing.assert_close(merged(x), adv_out)
    plain = resnet_mini(4, Normalize((0.5,) * 3, (0.25,) * 3), width=4)
    assert merged.state_dict().keys() == plain.state_dict().keys()  # loads like any saved model


def test_arat_weighs_the_adversarial_loss_by_the_clean_training_accuracy(digits):
    torch.manual_seed(0)
    images, labels = model_inputs(digits, "train", 8, torch.device("cpu"))
    assert len(images) > ACCURACY_IMAGES  # the weight reads a class-stratified subset only
    net = build_model("resnet_mini", 10, width=4)
    cfg = TrainConfig.from_schema(method="arat", eps=0.5, attack_steps=1, epochs=1, batch_size=256, crop_padding=0)
    trainer = Trainer(net, cfg, steps_per_epoch=8, input_shape=(3, 8, 8))
    with torch.no_grad():  # make the clean branch differ from the adversarial one, image by image
        for m in net.modules():
            if isinstance(m, SplitBatchNorm):
                m.clean.running_mean.add_(0.3)
                m.clean.bias.copy_(torch.randn(m.clean.bias.shape, generator=torch.Generator().manual_seed(1)))
    keep = weight_images(labels, cfg.seed)
    assert len(keep) == ACCURACY_IMAGES and len(set(keep.tolist())) == ACCURACY_IMAGES
    with bn_branch(net, "clean"):
        clean_acc = accuracy(net, images[keep], labels[keep])
    adv_acc = accuracy(net, images[keep], labels[keep])
    assert clean_acc != adv_acc
    trainer.train_epoch(images, labels, epoch=0, progress=False)
    assert float(trainer.method.loss.ce_weights[0]) == pytest.approx(clean_acc / 100)


def test_arat_saves_a_plain_network(digits):
    cfg = TrainConfig.from_schema(method="arat", eps=0.5, attack_steps=1, epochs=1, batch_size=256, arat_alpha=1.0)
    trained, history, meta = pretrain_digits(digits, cfg)
    assert not any(isinstance(m, SplitBatchNorm) for m in trained.modules())
    assert trained.state_dict().keys() == build_model("resnet_mini", 10, width=4).state_dict().keys()
    assert meta["train"]["method"] == "arat" and 0 <= history[0]["robust_acc"] <= history[0]["clean_acc"]
