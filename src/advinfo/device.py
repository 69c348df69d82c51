"""Where a job runs and its data in the form a model takes, on that device."""

from __future__ import annotations

import torch

from advinfo.data import ImageDataset, adapt


def pick_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def job_device(threads: int) -> torch.device:
    """The device of a job, with torch limited to the job's ``threads`` CPU threads."""
    torch.set_num_threads(threads)
    return pick_device()


def model_inputs(ds: ImageDataset, split: str, image_size: int, device: torch.device,
                 limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """uint8 images (N, 3, S, S) and labels of ``split`` on ``device``, first ``limit`` only."""
    x, y = ds.split(split)
    if limit:
        x, y = x[:limit], y[:limit]
    return adapt(x, 3, image_size).to(device), y.to(device)
