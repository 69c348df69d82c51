"""What the workflow knows about each dataset before building it: where it comes from, and how
many classes and images its splits hold, so that ``preflight.py`` can check a config at parse
time. Torch-free: Snakemake imports it while it parses the workflow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENERATED_DATASETS = ("shapes", "letters", "numerals", "textures")  # sized by data.n_train and data.n_test
EMBEDDED_DATASETS = ("digits", "mnist5k", *GENERATED_DATASETS)  # need no files (datasets.builders.BUILDERS)
# Read from torchvision's on-disk layouts (datasets.readers.TORCHVISION).
TORCHVISION_DATASETS = (
    "cifar10",
    "cifar100",
    "mnist",
    "fashion_mnist",
    "svhn",
    "stl10",
    "flowers102",
    "aircraft",
    "cars",
    "dtd",
    "food101",
)
GENERATED_CLASSES = {"shapes": 10, "letters": 26, "numerals": 10, "textures": 10}  # datasets.synthetic.*_CLASSES
# The files torchvision's ImageFolder reads (torchvision.datasets.folder.IMG_EXTENSIONS).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class DatasetFacts:
    """Class count and split sizes of a dataset, as the workflow caches it."""

    classes: int
    n_train: int
    train_smallest: int  # training images of the smallest class
    n_test: int
    smallest_class: str = ""  # its name, where it matters (image folders)


# Datasets of fixed size: digits and mnist5k as split by builders (80/20, stratified); the
# torchvision ones as their published splits (train+val for Flowers102 and DTD, trainval for Aircraft).
FIXED_FACTS = {
    "digits": DatasetFacts(10, 1437, 139, 360),
    "mnist5k": DatasetFacts(10, 4000, 400, 1000),
    "cifar10": DatasetFacts(10, 50000, 5000, 10000),
    "cifar100": DatasetFacts(100, 50000, 500, 10000),
    "mnist": DatasetFacts(10, 60000, 5421, 10000),
    "fashion_mnist": DatasetFacts(10, 60000, 6000, 10000),
    "svhn": DatasetFacts(10, 73257, 4659, 26032),
    "stl10": DatasetFacts(10, 5000, 500, 8000),
    "flowers102": DatasetFacts(102, 2040, 20, 6149),
    "aircraft": DatasetFacts(100, 6667, 66, 3333),
    "cars": DatasetFacts(196, 8144, 24, 8041),
    "dtd": DatasetFacts(47, 3760, 80, 1880),
    "food101": DatasetFacts(101, 75750, 750, 25250),
}


def dataset_kind(name: str, folders: Mapping[str, str]) -> str:
    """How dataset ``name`` is built: ``folder``, ``generated``, ``embedded`` or ``torchvision``."""
    if name in folders:
        return "folder"
    if name in GENERATED_DATASETS:
        return "generated"
    return "embedded" if name in EMBEDDED_DATASETS else "torchvision"


def folder_counts(path: str | Path) -> dict[str, dict[str, int]]:
    """Images per class folder of ``path/train`` and ``path/test`` (splits that do not exist are left out)."""
    counts = {}
    for split in ("train", "test"):
        root = Path(path) / split
        if root.is_dir():
            counts[split] = {entry.name: _images_in(entry.path) for entry in os.scandir(root) if entry.is_dir()}
    return counts


def _images_in(folder: str) -> int:
    """Image files under ``folder``, at any depth, as ImageFolder counts them."""
    walk = os.walk(folder, followlinks=True)
    return sum(name.lower().endswith(IMAGE_EXTENSIONS) for _, _, names in walk for name in names)


def dataset_facts(name: str, data: Mapping[str, Any]) -> DatasetFacts | None:
    """What ``name`` will hold under the ``data`` config section, or None when that is not known
    before building it (an image folder that does not exist yet, or one without both splits)."""
    kind = dataset_kind(name, data["folders"])
    if kind == "generated":
        classes = GENERATED_CLASSES[name]
        return DatasetFacts(classes, data["n_train"], data["n_train"] // classes, data["n_test"])
    if kind != "folder":
        return FIXED_FACTS[name]
    counts = folder_counts(data["folders"][name])
    if set(counts) != {"train", "test"} or not counts["train"]:
        return None
    train = counts["train"]
    smallest = min(sorted(train), key=train.get)
    return DatasetFacts(len(train), sum(train.values()), train[smallest], sum(counts["test"].values()), smallest)
