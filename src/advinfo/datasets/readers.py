"""Real datasets read through torchvision's own classes and on-disk layouts, and image folders.

The prepare_dataset job reads one of these once into the workflow's uint8 cache (see
``images.py``); every other job loads the cache. Datasets of a fixed image size keep it;
datasets of mixed sizes are resized (shorter side) and centre-cropped to a square. The files
are parsed by torchvision, which checks the MD5 of every file it unpickles or reads (CIFAR's
pickled batches included), so only the published files are ever unpickled.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from torchvision import datasets
from torchvision.datasets.utils import extract_archive
from torchvision.transforms import v2
from tqdm import tqdm

log = logging.getLogger(__name__)

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]


@dataclass(frozen=True)
class VisionSource:
    """How one torchvision dataset is found, split and fetched by hand."""

    cls: Callable[..., Dataset]
    marker: str  # the file or folder torchvision expects under its root
    train: tuple[dict[str, Any], ...]  # constructor arguments of each part of our train split
    test: tuple[dict[str, Any], ...]
    url: str  # where the files come from, for the error when they are missing
    fixed_size: bool  # every image has the same size: stored as it is
    classes: tuple[str, ...] = ()  # class names where the torchvision class has none


def _split(name: str) -> tuple[dict[str, Any], ...]:
    return ({"split": name},)


TORCHVISION: dict[str, VisionSource] = {
    "cifar10": VisionSource(
        datasets.CIFAR10,
        "cifar-10-batches-py",
        ({"train": True},),
        ({"train": False},),
        "https://www.cs.toronto.edu/~kriz/cifar.html",
        True,
    ),
    "cifar100": VisionSource(
        datasets.CIFAR100,
        "cifar-100-python",
        ({"train": True},),
        ({"train": False},),
        "https://www.cs.toronto.edu/~kriz/cifar.html",
        True,
    ),
    "mnist": VisionSource(
        datasets.MNIST,
        "MNIST/raw",
        ({"train": True},),
        ({"train": False},),
        "https://yann.lecun.com/exdb/mnist/ (the four *-ubyte.gz files)",
        True,
    ),
    "fashion_mnist": VisionSource(
        datasets.FashionMNIST,
        "FashionMNIST/raw",
        ({"train": True},),
        ({"train": False},),
        "https://github.com/zalandoresearch/fashion-mnist (the four *-ubyte.gz files)",
        True,
    ),
    "svhn": VisionSource(
        datasets.SVHN,
        "train_32x32.mat",
        _split("train"),
        _split("test"),
        "http://ufldl.stanford.edu/housenumbers/ (train_32x32.mat, test_32x32.mat)",
        True,
        tuple(str(d) for d in range(10)),
    ),
    "stl10": VisionSource(
        datasets.STL10, "stl10_binary", _split("train"), _split("test"), "https://cs.stanford.edu/~acoates/stl10/", True
    ),
    "flowers102": VisionSource(
        datasets.Flowers102,
        "flowers-102",
        ({"split": "train"}, {"split": "val"}),
        _split("test"),
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
        False,
    ),
    "aircraft": VisionSource(
        datasets.FGVCAircraft,
        "fgvc-aircraft-2013b",
        _split("trainval"),
        _split("test"),
        "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/",
        False,
    ),
    "cars": VisionSource(
        datasets.StanfordCars,
        "stanford_cars",
        _split("train"),
        _split("test"),
        "the Stanford Cars files in torchvision's layout (see torchvision.datasets.StanfordCars)",
        False,
    ),
    "dtd": VisionSource(
        datasets.DTD,
        "dtd",
        ({"split": "train"}, {"split": "val"}),
        _split("test"),
        "https://www.robots.ox.ac.uk/~vgg/data/dtd/",
        False,
    ),
    "food101": VisionSource(
        datasets.Food101,
        "food-101",
        _split("train"),
        _split("test"),
        "https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/",
        False,
    ),
}


def _transform(fixed_size: bool, size: int) -> v2.Compose:
    """PIL image -> uint8 tensor (C, H, W); mixed-size images resized and centre-cropped to ``size``."""
    steps: list[Callable] = [v2.PILToTensor()]
    if not fixed_size:
        steps += [v2.Resize(size, antialias=True), v2.CenterCrop(size)]
    return v2.Compose(steps)


def _to_arrays(parts: Sequence[Dataset], what: str, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode every image of ``parts`` (in order) into one uint8 array and its labels."""
    data = ConcatDataset(parts)
    loader = DataLoader(data, batch_size=256, num_workers=workers, shuffle=False)
    xs, ys = [], []
    for x, y in tqdm(loader, desc=what, unit="batch", mininterval=10, delay=5):
        xs.append(x.numpy())
        ys.append(np.asarray(y, dtype=np.int64))
    if not xs:
        raise ValueError(f"{what} has no images")
    return np.concatenate(xs), np.concatenate(ys)


def _packed(raw: Path) -> list[Path]:
    """The published ``.gz`` files of an MNIST-style ``raw`` folder that are not unpacked beside
    themselves (torchvision reads the unpacked ones, and unpacks only while downloading)."""
    return [gz for gz in sorted(raw.glob("*.gz")) if not gz.with_suffix("").exists()]


@contextmanager
def _readable_root(root: Path, marker: str, scratch: str | None) -> Iterator[Path]:
    """``root``, or, when its MNIST-style raw folder holds packed files, a temporary root in
    ``scratch`` (the cache's folder, data.root) whose raw folder has them unpacked and links to
    the rest: reading a dataset never writes into the user's folder, which may be read-only."""
    raw = root / marker
    packed = _packed(raw) if raw.is_dir() and marker.endswith("raw") else []
    if not packed:
        yield root
        return
    if scratch is not None:
        Path(scratch).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=scratch) as tmp:
        staged = Path(tmp) / marker
        staged.mkdir(parents=True)
        for path in raw.iterdir():
            if path.suffix != ".gz":
                (staged / path.name).symlink_to(path.resolve())
        for gz in packed:
            extract_archive(str(gz), str(staged))
        yield Path(tmp)


def missing_message(name: str, root: Path) -> str | None:
    """Why torchvision dataset ``name`` cannot be read from ``root`` without downloading, or None."""
    spec = TORCHVISION[name]
    where = root / spec.marker
    if where.exists():
        return None
    return (
        f"dataset {name}: {where} does not exist. Set data.download: true to let torchvision "
        f"download it into {root}, or put the files from {spec.url} there in torchvision's layout"
    )


def load_torchvision(
    name: str, root: str | Path, download: bool, size: int, workers: int = 0, scratch: str | None = None
) -> Arrays:
    """Train/test arrays and class names of torchvision dataset ``name`` under ``root``; files
    that must be unpacked first are unpacked into ``scratch``, never into ``root`` (unless
    downloading, when torchvision writes there)."""
    spec, root = TORCHVISION[name], Path(root)
    if not download:
        message = missing_message(name, root)
        if message:
            raise FileNotFoundError(message)
    transform = _transform(spec.fixed_size, size)

    def parts(where: Path, kwargs_list: tuple[dict[str, Any], ...]) -> list[Dataset]:
        try:
            return [spec.cls(str(where), download=download, transform=transform, **kw) for kw in kwargs_list]
        except RuntimeError as err:  # torchvision's "not found or corrupted" (a file's MD5 differs)
            raise ValueError(
                f"dataset {name} in {root}: {err}. torchvision checks every file's MD5, so a truncated "
                f"or modified file fails here; fetch it again from {spec.url}"
            ) from err

    # Downloading, torchvision writes into root (and unpacks there) by design.
    readable = nullcontext(root) if download else _readable_root(root, spec.marker, scratch)
    with readable as where:
        train, test = parts(where, spec.train), parts(where, spec.test)
        classes = spec.classes or train[0].classes
        x_tr, y_tr = _to_arrays(train, f"{name} train", workers)
        x_te, y_te = _to_arrays(test, f"{name} test", workers)
    return x_tr, y_tr, x_te, y_te, tuple(str(c) for c in classes)


def load_folder(name: str, path: str | Path, size: int, workers: int = 0) -> Arrays:
    """Train/test arrays of an image-folder dataset: ``path/train/<class>/*`` and
    ``path/test/<class>/*`` (torchvision's ImageFolder layout), resized to ``size``."""
    path = Path(path)
    layout = f"expected {path}/train/<class>/<image> and {path}/test/<class>/<image>"
    for split in ("train", "test"):
        if not (path / split).is_dir():
            raise FileNotFoundError(f"dataset {name}: {path / split} does not exist; {layout}")
    transform = _transform(False, size)
    train = datasets.ImageFolder(str(path / "train"), transform=transform)
    test = datasets.ImageFolder(str(path / "test"), transform=transform)
    if train.classes != test.classes:
        extra = sorted(set(train.classes) ^ set(test.classes))
        raise ValueError(
            f"dataset {name}: {path}/train and {path}/test have different class folders "
            f"(in one only: {', '.join(extra[:5])}); {layout}"
        )
    x_tr, y_tr = _to_arrays([train], f"{name} train", workers)
    x_te, y_te = _to_arrays([test], f"{name} test", workers)
    return x_tr, y_tr, x_te, y_te, tuple(train.classes)
