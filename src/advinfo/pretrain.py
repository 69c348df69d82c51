"""Pretraining one network of the grid: data on the device, model built from the data's
statistics, training, and the metadata that makes the saved model self-describing."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import advinfo
from advinfo.data import ImageDataset, adapt, channel_stats
from advinfo.models import Classifier, build_model
from advinfo.train import TrainConfig, train


def pick_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_inputs(ds: ImageDataset, split: str, image_size: int, device: torch.device,
                 limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """uint8 images (N, 3, S, S) and labels of ``split`` on ``device``, first ``limit`` only."""
    x, y = ds.split(split)
    if limit:
        x, y = x[:limit], y[:limit]
    return adapt(x, 3, image_size).to(device), y.to(device)


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
