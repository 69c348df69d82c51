"""Shared fixtures: paths of the repository and a small network trained once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from advinfo.data import BuildOptions, build_dataset
from advinfo.pretrain import pretrain
from advinfo.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="session")
def default_config() -> dict:
    with open(ROOT / "config" / "config.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def digits():
    return build_dataset("digits", BuildOptions(seed=0))


@pytest.fixture(scope="session")
def trained_digits_model(digits):
    """A resnet_mini trained (standard) on 8x8 digits for a few epochs: ~90% test accuracy."""
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=4, batch_size=64, lr=0.1, crop_padding=1, seed=0)
    model, history, meta = pretrain(digits, "resnet_mini", cfg, image_size=8, width=8,
                                    monitor_size=100, device=torch.device("cpu"), progress=False)  # fmt: skip
    return model.eval(), history, meta


def crash_at_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> Callable[[], None]:
    """Make training raise KeyboardInterrupt (a stand-in for a kill) when it starts ``epoch``
    (0-based); returns a function that undoes it."""
    original = Trainer.train_epoch

    def crash(self, images, labels, current, progress=True):
        if current == epoch:
            raise KeyboardInterrupt("simulated kill")
        return original(self, images, labels, current, progress)

    monkeypatch.setattr(Trainer, "train_epoch", crash)
    return lambda: monkeypatch.setattr(Trainer, "train_epoch", original)
