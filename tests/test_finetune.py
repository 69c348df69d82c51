"""Partial fine-tuning trains exactly the head and the last k stages; frozen BatchNorm keeps
its source statistics; the source network is left untouched."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from conftest import crash_at_epoch
from torch import nn

from advinfo.datasets.builders import BuildOptions, build_dataset
from advinfo.nets.models import build_model
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.transfer.finetune import PartialFinetune, finetune

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def letters():
    return build_dataset("letters", BuildOptions.from_schema(n_train=260, n_test=104, seed=0))


def _states(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("trainable", [0, 1, 3])
def test_only_the_head_and_the_last_stages_change(trained_digits_model, letters, trainable):
    source = trained_digits_model[0]
    before = _states(source)
    cfg = TrainConfig.from_schema(epochs=1, batch_size=64, lr=0.05, seed=0)
    tuned, history = finetune(
        source, letters, trainable, cfg, image_size=8, monitor_size=50, device=CPU, sample_seed=0, progress=False
    )
    assert tuned.head.out_features == 26 and len(history) == 1
    after = tuned.state_dict()
    n = len(source.stages)
    for key, value in before.items():
        if key.startswith("head."):
            continue
        learns = any(key.startswith(f"stages.{i}.") for i in range(n - trainable, n))
        changed = not torch.equal(value, after[key])
        if key.endswith("num_batches_tracked"):
            assert changed == learns, key
        elif learns and key.endswith(("weight", "running_mean")):
            assert changed, f"{key} should have been trained"
        elif not learns:
            assert not changed, f"{key} is frozen but changed"
    for key, value in before.items():  # the source network itself is untouched
        assert torch.equal(value, source.state_dict()[key]), key


def test_frozen_modules_stay_in_eval_mode_while_training():
    model = build_model("resnet_mini", 5, width=4)
    wrapper = PartialFinetune(model, trainable_stages=1).train()
    assert not model.stem.training and not model.stages[0].training and not model.stages[1].training
    assert model.stages[2].training and model.head.training
    assert not any(p.requires_grad for p in model.stages[1].parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    wrapper.eval()
    assert not model.stages[2].training


def test_unfreezing_more_stages_than_the_model_has_is_rejected():
    with pytest.raises(ValueError, match="0 to 3 stages"):
        PartialFinetune(build_model("resnet_mini", 5, width=4), trainable_stages=4)


def test_finetuning_learns_the_target_and_is_deterministic(trained_digits_model, digits):
    source = trained_digits_model[0]
    cfg = TrainConfig.from_schema(epochs=3, batch_size=64, lr=0.05, crop_padding=1, seed=3)
    run = [
        finetune(copy.deepcopy(source), digits, 1, cfg, 8, 100, device=CPU, progress=False, sample_seed=0)
        for _ in range(2)
    ]
    assert run[0][1][-1]["clean_acc"] > 80.0  # a new head on the source task itself relearns it
    for key, value in run[0][0].state_dict().items():
        assert torch.equal(value, run[1][0].state_dict()[key]), key


def test_interrupted_finetuning_resumes_only_for_the_same_source_weights(
    trained_digits_model, letters, tmp_path, monkeypatch, caplog
):
    source = trained_digits_model[0]
    cfg = TrainConfig.from_schema(epochs=2, batch_size=128, lr=0.05, seed=0)
    kwargs = dict(image_size=8, monitor_size=20, device=CPU, progress=False, sample_seed=0)
    reference, _ = finetune(source, letters, 1, cfg, **kwargs)

    resume = tmp_path / "resume.pt"
    undo = crash_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        finetune(source, letters, 1, cfg, resume_path=resume, **kwargs)
    undo()
    with caplog.at_level(logging.INFO):
        resumed, history = finetune(source, letters, 1, cfg, resume_path=resume, **kwargs)
    assert "after epoch 1" in caplog.text and len(history) == 2
    for key, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key

    other_source = copy.deepcopy(source)
    with torch.no_grad():
        other_source.stem[0].weight.mul_(1.01)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        finetune(other_source, letters, 1, cfg, resume_path=resume, **kwargs)
    assert "belongs to another configuration" in caplog.text
