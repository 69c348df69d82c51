"""Training learns, is deterministic, resumes exactly, and stops at once when it diverges."""

from __future__ import annotations

import logging

import pytest
import torch
from conftest import crash_at_epoch, pretrain_digits

from advinfo.errors import DivergenceError
from advinfo.nets.models import build_model
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.augment import augment
from advinfo.training.loop import Trainer, batch_slices, train
from advinfo.training.schedule import lr_lambda

CPU = torch.device("cpu")


def test_standard_training_learns(trained_digits_model):
    _, history, meta = trained_digits_model
    assert history[-1]["clean_acc"] > 80
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert all(row["robust_acc"] == row["clean_acc"] for row in history)  # eps 0
    assert meta["num_classes"] == 10 and meta["image_size"] == 8


def test_adversarial_training_records_robust_below_clean(digits):
    cfg = TrainConfig.from_schema(method="pgd", eps=0.5, attack_steps=2, epochs=2, batch_size=128, monitor_steps=3)
    _, history, _ = pretrain_digits(digits, cfg)
    assert all(row["robust_acc"] <= row["clean_acc"] for row in history)
    assert all(row["weight_norm"] > 0 and row["images_per_s"] > 0 for row in history)


def test_training_is_deterministic_in_the_seed(digits):
    cfg = TrainConfig.from_schema(method="pgd", eps=0.5, attack_steps=1, epochs=1, batch_size=256)
    a, _, _ = pretrain_digits(digits, cfg)
    b, _, _ = pretrain_digits(digits, cfg)
    c, _, _ = pretrain_digits(
        digits, TrainConfig.from_schema(method="pgd", eps=0.5, attack_steps=1, epochs=1, batch_size=256, seed=1)
    )
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.head.weight, c.head.weight)


@pytest.mark.parametrize("method", ["pgd", "arat", "wcmi"])  # arat's predictor and wcmi's critic resume too
def test_interrupted_run_resumes_to_identical_weights(digits, tmp_path, monkeypatch, method):
    cfg = TrainConfig.from_schema(method=method, eps=0.5, attack_steps=1, epochs=3, batch_size=256)
    reference, ref_history, _ = pretrain_digits(digits, cfg)

    resume = tmp_path / "resume.pt"
    undo = crash_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        pretrain_digits(digits, cfg, resume_path=resume)
    assert resume.exists()
    undo()
    resumed, history, _ = pretrain_digits(digits, cfg, resume_path=resume)
    for (k, va), vb in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in ref_history]


def test_resume_state_of_another_configuration_is_ignored(digits, tmp_path, caplog):
    resume = tmp_path / "resume.pt"
    pretrain_digits(digits, TrainConfig.from_schema(epochs=1, batch_size=256), resume_path=resume)
    with caplog.at_level(logging.WARNING):
        _, history, _ = pretrain_digits(
            digits, TrainConfig.from_schema(epochs=1, batch_size=256, lr=0.05), resume_path=resume
        )
    assert "belongs to another configuration" in caplog.text
    assert len(history) == 1


def test_divergence_stops_at_once_saying_where(digits):
    with pytest.raises(DivergenceError, match=r"non-finite training loss .* at epoch 1, step [1-9]\b.*pretrain.lr"):
        pretrain_digits(digits, TrainConfig.from_schema(epochs=3, batch_size=64, lr=1e30, momentum=0.0, nesterov=False))


def test_augment_translates_each_image_by_its_own_offset():
    x = torch.rand(16, 3, 6, 6)
    out = augment(x, padding=2, flip=False, generator=torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = []
    for i in range(16):
        matches = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if torch.equal(out[i], padded[i, :, dy : dy + 6, dx : dx + 6])
        ]
        assert matches, f"image {i} is not a translated crop"
        offsets.append(matches[0])
    assert len(set(offsets)) > 1


def test_augment_flips_some_images_only():
    x = torch.rand(32, 1, 4, 4)
    out = augment(x, padding=0, flip=True, generator=torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x, strict=True)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and any(flipped) and any(kept)


def test_a_last_batch_of_one_image_joins_the_one_before():
    assert batch_slices(9, 4) == [slice(0, 4), slice(4, 9)]
    assert batch_slices(10, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert batch_slices(3, 4) == [slice(0, 3)]


def test_arat_trains_when_an_epoch_ends_on_one_image(digits):
    """AR-AT's predictor has a BatchNorm over the batch: one image would fail it."""
    x, y = digits.x_train[:9].expand(-1, 3, -1, -1).contiguous(), digits.y_train[:9]
    cfg = TrainConfig.from_schema(method="arat", eps=0.5, attack_steps=1, epochs=1, batch_size=4, seed=0)
    history = train(build_model("resnet_mini", 10, width=4), cfg, (x, y), (x, y), progress=False)
    assert history[0]["train_loss"] > 0


def test_triangle_schedule_warms_up_then_decays_to_zero():
    f = lr_lambda(TrainConfig.from_schema(epochs=10, warmup=0.2), steps_per_epoch=10)
    values = [f(t) for t in range(100)]
    peak = max(range(100), key=values.__getitem__)
    assert peak == 19 and values[peak] == pytest.approx(1.0)
    assert values[0] < 0.1 and values[-1] < 0.02
    assert all(a <= b for a, b in zip(values[:peak], values[1 : peak + 1], strict=True))


def test_step_schedule_multiplies_at_milestones():
    f = lr_lambda(TrainConfig.from_schema(schedule="step", epochs=6, milestones=(2, 4), gamma=0.1), steps_per_epoch=5)
    assert [f(t) for t in (0, 9, 10, 19, 20)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"method": "pgd", "eps": 0.0}, "standard training is the one method at eps 0"),
        ({"method": "standard", "eps": 1.0}, "standard training is the one method at eps 0"),
        ({"schedule": "cosine"}, "schedule must be one of"),
    ],
)
def test_inconsistent_train_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_schema(**kwargs)


def test_an_unknown_method_is_rejected_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown training method 'fgsm'; expected one of standard, pgd"):
        Trainer(build_model("resnet_mini", 10, width=4), TrainConfig.from_schema("fgsm", 0.5), steps_per_epoch=1)
