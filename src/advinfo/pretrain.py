"""Pretraining one network of the grid: data on the device, model built from the data's
statistics, training, and the metadata that makes the saved model self-describing."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import advinfo
from advinfo.data import ImageDataset, channel_stats
from advinfo.device import model_inputs, pick_device
from advinfo.models import Classifier, build_model
from advinfo.train import TrainConfig, train


def pretrain(
    ds: ImageDataset,
    arch: str,
    cfg: TrainConfig,
    image_size: int,
    width: int = 16,
    monitor_size: int = 500,
    resume_path: str | Path | None = None,
    device: torch.device | None = None,
    progress: bool = True,
) -> tuple[Classifier, list[dict[str, float]], dict[str, Any]]:
    """Train ``arch`` on ``ds`` with ``cfg``; return the model, per-epoch metrics and metadata."""
    device = device or pick_device()
    train_set = model_inputs(ds, "train", image_size, device)
    monitor_set = model_inputs(ds, "test", image_size, device, limit=monitor_size)
    mean, std = channel_stats(train_set[0])
    torch.manual_seed(cfg.seed)
    model = build_model(arch, ds.num_classes, mean, std, width).to(device)
    run_id = {"arch": arch, "dataset": ds.name, "image_size": image_size, "width": width}
    history = train(model, cfg, train_set, monitor_set, resume_path, run_id, progress)
    meta = {
        **run_id,
        "source": ds.name,
        "num_classes": ds.num_classes,
        "classes": list(ds.classes),
        "mean": mean,
        "std": std,
        "train": asdict(cfg),
        "advinfo_version": advinfo.__version__,
        "torch_version": str(torch.__version__),
    }
    return model, history, meta
