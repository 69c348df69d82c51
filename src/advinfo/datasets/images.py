"""One dataset interface for every image dataset of the workflow.

A dataset is built once (``builders.py``), cached under ``resources/`` as an ``.npz`` of uint8
images (N, C, H, W), int64 labels and class names, and loaded from that cache by every job.
``model_inputs`` turns a split, or a class-stratified subset of it, into what a consuming model
expects: 3 channels (grey replicated) at the model's resolution, on its device.
"""

from __future__ import annotations

import dataclasses
import platform
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from advinfo.fileio import atomic_path
from advinfo.sampling import stratified_indices


@dataclass(frozen=True)
class ImageDataset:
    """Train/test splits as uint8 tensors (N, C, H, W) with int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in ("train", "test"):
            raise ValueError(f"unknown split {name!r}; expected 'train' or 'test'")
        return (self.x_train, self.y_train) if name == "train" else (self.x_test, self.y_test)


def save_dataset(ds: ImageDataset, path: str | Path) -> None:
    """Write the cache atomically: the file is complete or absent."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                name=np.array(ds.name),
                x_train=ds.x_train.numpy(),
                y_train=ds.y_train.numpy(),
                x_test=ds.x_test.numpy(),
                y_test=ds.y_test.numpy(),
                classes=np.array(ds.classes, dtype=str),
            )


_KEYS = ("name", "x_train", "y_train", "x_test", "y_test", "classes")


def load_dataset(path: str | Path) -> ImageDataset:
    """Load a cached dataset; a missing, truncated or foreign file raises naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset cache {path} does not exist (the prepare_dataset rule makes it)")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _KEYS if k not in f.files]
            if missing:
                raise ValueError(f"missing arrays {missing}")
            arrays = {k: f[k] for k in _KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"dataset cache {path} is corrupt or truncated ({err}); delete it and rerun") from err
    x_tr, x_te = arrays["x_train"], arrays["x_test"]
    if x_tr.dtype != np.uint8 or x_tr.ndim != 4 or x_te.shape[1:] != x_tr.shape[1:]:
        raise ValueError(f"dataset cache {path}: expected uint8 images (N, C, H, W), got {x_tr.dtype} {x_tr.shape}")
    return ImageDataset(
        str(arrays["name"]),
        torch.from_numpy(x_tr),
        torch.from_numpy(arrays["y_train"].astype(np.int64)),
        torch.from_numpy(x_te),
        torch.from_numpy(arrays["y_test"].astype(np.int64)),
        tuple(str(c) for c in arrays["classes"]),
    )


def load_classes(path: str | Path) -> tuple[str, ...]:
    """The class names of a cached dataset, without reading its images."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return tuple(str(c) for c in f["classes"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"dataset cache {path} is missing, corrupt or truncated ({err}); delete it and rerun") from err


def adapt(images: torch.Tensor, channels: int = 3, size: int | None = None) -> torch.Tensor:
    """Images (N, C, H, W) as the model wants them: ``channels`` channels, ``size`` x ``size``.

    Grey images are replicated to 3 channels (as the paper does for MNIST targets); the
    dtype is kept, so uint8 datasets can stay compact on the device.
    """
    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
    c = images.shape[1]
    if c != channels:
        if c == 1:
            images = images.expand(-1, channels, -1, -1)
        else:
            raise ValueError(f"cannot adapt {c}-channel images to {channels} channels")
    if size is not None and images.shape[-2:] != (size, size):
        images = resize(images, size)
    return images.contiguous()


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images (N, C, H, W) bilinearly resized to ``size`` x ``size`` with antialiasing, exactly as
    torchvision's v2 ``resize`` computes it: uint8 natively where the CPU has that kernel, else
    through float32, rounded back. Written out because importing torchvision costs every job over
    a second (tests compare the two)."""
    native = images.dtype in (torch.float32, torch.float64) or (images.dtype == torch.uint8 and _native_uint8(images))
    x = images if native else images.float()
    out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out if native else out.round_().to(images.dtype)


def _native_uint8(images: torch.Tensor) -> bool:
    """Whether torch resizes uint8 images bilinearly itself (torchvision's test): on CPUs with AVX2
    or AVX-512, or ARM."""
    if images.device.type != "cpu":
        return False
    return torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") or platform.machine() in ("aarch64", "arm64")


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to float32 in [0, 1]."""
    return images.float().div_(255.0)


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images in [0, 1] units (for the model's Normalize)."""
    x = to_unit(images).transpose(0, 1).flatten(1)
    std = x.std(dim=1).clamp_min(1e-3)
    return x.mean(dim=1).tolist(), std.tolist()


def train_subset(ds: ImageDataset, n: int | None, seed: int) -> ImageDataset:
    """``ds`` with ``n`` of its training images, every class equally as far as its images allow
    (:func:`sampling.stratified_indices`, balanced, with ``seed``), in their stored order; ``ds``
    itself when ``n`` is None or not below its training split."""
    if n is None or n >= len(ds.y_train):
        return ds
    keep = torch.from_numpy(np.sort(stratified_indices(ds.y_train.numpy(), n, seed, balanced=True)))
    return dataclasses.replace(ds, x_train=ds.x_train[keep], y_train=ds.y_train[keep])


def model_inputs(
    ds: ImageDataset,
    split: str,
    image_size: int,
    device: torch.device,
    limit: int | None = None,
    seed: int | None = None,
    balanced: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 3, S, S) and labels of ``split`` on ``device``: all of them, or ``limit``
    drawn by class (:func:`sampling.stratified_indices` with ``seed`` and ``balanced``)."""
    x, y = ds.split(split)
    if limit:
        if seed is None:
            raise ValueError("a subset of images needs the seed of its sampler")
        keep = torch.from_numpy(stratified_indices(y.numpy(), limit, seed, balanced))
        x, y = x[keep], y[keep]
    return adapt(x, 3, image_size).to(device), y.to(device)
