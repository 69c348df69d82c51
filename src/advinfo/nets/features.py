"""Representations z of a dataset under one network, streamed to a self-describing HDF5 file.

Layout: one group per split (``train``, ``test``) holding ``features`` (float32, N x D,
chunked by rows so later stages can read slices) and ``labels`` (int64, N); the root's
attributes say which model and dataset the features came from.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import advinfo
from advinfo.datasets.images import ImageDataset, model_inputs, to_unit
from advinfo.fileio import atomic_path

SPLITS = ("train", "test")
REQUIRED_ATTRS = (
    "source",
    "arch",
    "method",
    "eps",
    "seed",
    "target",
    "feature_dim",
    "weights_sha256",
    "advinfo_version",
)
CHUNK_BYTES = 1 << 20  # chunks of whole rows, about 1 MiB each
FLUSH_BYTES = 64 << 20  # features are written in blocks of about 64 MiB


@torch.no_grad()
def iter_features(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> Iterator[torch.Tensor]:
    """z = model.features(x) of uint8 ``images`` batch by batch, in eval mode, as float32 on CPU."""
    model.eval()
    for i in range(0, len(images), batch_size):
        yield model.features(to_unit(images[i : i + batch_size])).float().cpu().contiguous()


def write_features(
    path: str | Path,
    model: nn.Module,
    splits: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    attrs: Mapping[str, Any],
    batch_size: int = 256,
    progress: bool = True,
) -> None:
    """Write the features of every split of ``splits`` (uint8 images, labels) to ``path``,
    atomically, in blocks as they are computed."""
    dim = int(model.feature_dim)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs.update({**attrs, "feature_dim": dim})
        for name, (images, labels) in splits.items():
            n = len(images)
            group = fh.create_group(name)
            chunks = (max(1, min(CHUNK_BYTES // (4 * dim), n)), dim)
            feats = group.create_dataset("features", shape=(n, dim), dtype="f4", chunks=chunks)
            group.create_dataset("labels", data=labels.cpu().numpy().astype(np.int64))
            bar = tqdm(total=n, desc=f"features {name}", unit="img", disable=not progress, delay=5, leave=False)
            _stream(iter_features(model, images, batch_size), feats, bar)
            bar.close()


def extract_features(
    path: str | Path,
    model: nn.Module,
    target: ImageDataset,
    record: Mapping[str, Any],
    meta: Mapping[str, Any],
    device: torch.device,
    batch_size: int = 256,
) -> None:
    """z of ``target``'s train and test images under ``model`` (a checkpoint with ``meta``, the
    model ``record`` of grid.model_record) to ``path``, with what they came from as attributes."""
    splits = {s: model_inputs(target, s, meta["image_size"], device) for s in SPLITS}
    attrs = {
        **record,
        "target": target.name,
        "num_classes": target.num_classes,
        "classes": list(target.classes),
        "image_size": meta["image_size"],
        "weights_sha256": meta["weights_sha256"],
        "advinfo_version": advinfo.__version__,
    }
    write_features(path, model, splits, attrs, batch_size)


def _stream(batches: Iterator[torch.Tensor], dataset: h5py.Dataset, bar: tqdm) -> None:
    """Write the batches' rows in blocks of about FLUSH_BYTES: few HDF5 calls, bounded memory."""
    start, block, block_bytes = 0, [], 0
    for z in batches:
        block.append(z.numpy())
        block_bytes += z.numel() * 4
        bar.update(len(z))
        if block_bytes >= FLUSH_BYTES:
            start = _write_rows(dataset, block, start)
            block, block_bytes = [], 0
    _write_rows(dataset, block, start)


def _write_rows(dataset: h5py.Dataset, block: list[np.ndarray], start: int) -> int:
    """Write ``block`` (row arrays) at row ``start``; return the next free row."""
    if not block:
        return start
    rows = np.concatenate(block)
    dataset.write_direct(rows, None, np.s_[start : start + len(rows)])
    return start + len(rows)


def read_features(path: str | Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    """({split: (features float32 N x D, labels int64)}, attributes) of a file from :func:`write_features`.

    A missing, truncated or foreign file raises ``ValueError`` naming it.
    """
    try:
        with h5py.File(path, "r") as fh:
            attrs = {k: _plain(v) for k, v in fh.attrs.items()}
            missing = [k for k in REQUIRED_ATTRS if k not in attrs] + [s for s in SPLITS if s not in fh]
            if missing:
                raise ValueError(f"{path} is not a features file of this workflow (missing {missing})")
            splits = {s: (fh[s]["features"][()], fh[s]["labels"][()]) for s in SPLITS}
    except (OSError, KeyError) as err:
        raise ValueError(f"{path} is missing, truncated or not a features file ({err})") from err
    for name, (z, y) in splits.items():
        if z.shape != (len(y), attrs["feature_dim"]):
            raise ValueError(f"{path}: split {name!r} has features {z.shape} for {len(y)} labels")
    return splits, attrs


def _plain(value: Any) -> Any:
    """HDF5 attribute values as plain Python values."""
    return value.item() if isinstance(value, np.generic) else value


def read_model_features(
    path: str | Path,
    weights_sha256: str,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict[str, Any]]:
    """({split: (features, labels)} as tensors on ``device``, attributes) of a features file that
    must come from the weights with hash ``weights_sha256``; stale features raise naming the file."""
    splits, attrs = read_features(path)
    if attrs["weights_sha256"] != weights_sha256:
        raise ValueError(f"{path} was extracted from other weights than the model's; delete it and rerun")
    tensors = {s: (torch.from_numpy(z).to(device), torch.from_numpy(y).to(device)) for s, (z, y) in splits.items()}
    return tensors, attrs
