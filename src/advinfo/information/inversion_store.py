"""The HDF5 file of one model's inversions, readable without torch (so plotting jobs start fast).

Layout: ``originals`` (N, 3, H, W) in [0, 1], ``labels``, ``in_distribution`` (bool: a source
test image, or one of the out-of-distribution dataset); per variant ``images/{variant}`` and
``loss/{variant}`` (iterations + 1, N); ``feature_vis/images`` (K, 3, H, W) with their
``coordinates`` and ``activation``; ``manipulation/images`` (coordinates, images, 3, H, W) with
their ``coordinates`` and z_k ``before`` and ``after``; attributes name the model and the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from advinfo.fileio import atomic_path

GROUPS = ("originals", "labels", "in_distribution", "images", "loss", "feature_vis", "manipulation")


def save_inversion(path: str | Path, arrays: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Write nested dicts of arrays (a dict is a group) and ``attrs``, atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        _write(fh, arrays)
        fh.attrs.update(attrs)


def _write(group: h5py.Group, arrays: dict[str, Any]) -> None:
    for name, value in arrays.items():
        if isinstance(value, dict):
            _write(group.create_group(name), value)
        else:
            group.create_dataset(name, data=np.asarray(value))


def load_inversion(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(nested dict of arrays, attributes) of :func:`save_inversion`'s file; a missing,
    truncated or foreign file raises ``ValueError`` naming it."""
    try:
        with h5py.File(path, "r") as fh:
            missing = [g for g in GROUPS if g not in fh]
            if missing:
                raise ValueError(f"{path} is not an inversion file of this workflow (missing {missing})")
            return _read(fh), {k: (v.item() if isinstance(v, np.generic) else v) for k, v in fh.attrs.items()}
    except OSError as err:
        raise ValueError(f"{path} is missing, truncated or not an inversion file ({err})") from err


def _read(group: h5py.Group) -> dict[str, Any]:
    return {k: (_read(v) if isinstance(v, h5py.Group) else v[()]) for k, v in group.items()}
