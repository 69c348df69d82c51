"""Pretraining one network of the grid: data on the device, model built from the data's
statistics, training, and the metadata that makes the saved model self-describing."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

import advinfo
from advinfo.datasets.images import ImageDataset, channel_stats, load_dataset, model_inputs
from advinfo.device import pick_device
from advinfo.distributed import world
from advinfo.fileio import write_csv
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import save_model, weights_hash
from advinfo.nets.models import Classifier, build_model
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.loop import EAGER, Accel, train
from advinfo.training.methods import method_class

log = logging.getLogger(__name__)


def pretrain(
    ds: ImageDataset,
    arch: str,
    cfg: TrainConfig,
    image_size: int,
    width: int | None = None,
    monitor_size: int = 500,
    resume_path: str | Path | None = None,
    device: torch.device | None = None,
    progress: bool = True,
    accel: Accel = EAGER,
    *,
    sample_seed: int,
    head_probe: dict[str, Any] | None = None,
) -> tuple[Classifier, list[dict[str, float]], dict[str, Any]]:
    """Train ``arch`` on ``ds`` with ``cfg``; return the model, per-epoch metrics and metadata.
    The held-out images scored after every epoch are ``monitor_size`` test images drawn by
    class with ``sample_seed``; an encoder trained without labels gets a linear head fitted
    with ``head_probe``'s options. Under data parallelism on GPUs, BatchNorm statistics are
    synchronised across processes."""
    if not cfg.supervised and head_probe is None:
        raise ValueError(f"method {cfg.method!r} learns without labels and needs head_probe, the options of its head")
    device = device or pick_device()
    train_set = model_inputs(ds, "train", image_size, device)
    monitor_set = model_inputs(ds, "test", image_size, device, limit=monitor_size, seed=sample_seed)
    mean, std = channel_stats(train_set[0])
    torch.manual_seed(cfg.seed)
    model = build_model(arch, ds.num_classes, mean, std, width).to(device)
    if world()[1] > 1 and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # same state-dict keys as BatchNorm2d
    run_id = {"arch": arch, "dataset": ds.name, "image_size": image_size, "width": width}
    history = train(model, cfg, train_set, monitor_set, resume_path, run_id, progress, accel)
    head = method_class(cfg.method).final_head(model, cfg, train_set, ds.num_classes, head_probe)
    meta = {
        **head,
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


@dataclass(frozen=True)
class PretrainJob:
    """Everything one pretraining job needs, in a form that travels to data-parallel processes."""

    dataset: str  # the prepared dataset's cache file
    arch: str
    cfg: TrainConfig
    image_size: int
    width: int | None
    monitor_size: int
    sample_seed: int  # of the held-out images scored after every epoch
    head_probe: dict[str, Any] | None  # options of the linear head of an encoder trained without labels
    resume: str
    model_out: str
    metrics_out: str
    accel: Accel = EAGER
    threads: int = 1  # CPU threads of each process
    log_file: str | None = None  # where a data-parallel first process logs


def run_pretrain_job(device: torch.device, job: PretrainJob) -> None:
    """Train and, in the first (or only) process, save the model file and the metrics table."""
    rank, size = world()
    if size > 1:
        torch.set_num_threads(job.threads)
        if rank == 0:
            configure_logging(job.log_file)
    ds = load_dataset(job.dataset)
    model, history, meta = pretrain(
        ds,
        job.arch,
        job.cfg,
        job.image_size,
        job.width,
        job.monitor_size,
        job.resume,
        device,
        accel=job.accel,
        sample_seed=job.sample_seed,
        head_probe=job.head_probe,
    )
    if rank != 0:
        return
    meta["weights_sha256"] = weights_hash(model)
    meta["processes"] = size
    save_model(model, meta, job.model_out)
    write_csv(pd.DataFrame(history), job.metrics_out)
    log.info("saved %s (weights sha256 %s)", job.model_out, meta["weights_sha256"][:16])
