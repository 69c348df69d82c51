"""Self-describing model files: weights plus the metadata needed to rebuild the model.

The file is a plain dict of tensors and primitive values, so it loads with
``torch.load(..., weights_only=True)``: nothing in it can run code.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from advinfo.datasets.images import ImageDataset, load_dataset
from advinfo.fileio import load_tensors, save_tensors
from advinfo.nets.models import Classifier, build_model

REQUIRED_META = ("arch", "num_classes", "mean", "std", "width", "image_size")


def save_model(model: Classifier, meta: dict[str, Any], path: str | Path) -> None:
    """Write weights and metadata atomically."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"model metadata lacks {missing}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_tensors({"state_dict": state, "meta": dict(meta)}, path)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_model`, in eval mode on ``device``."""
    obj = load_tensors(path)
    if not isinstance(obj, dict) or "state_dict" not in obj or "meta" not in obj:
        raise ValueError(f"{path} is not a model file of this workflow (expected keys 'state_dict', 'meta')")
    meta = obj["meta"]
    model = rebuild_model(meta)
    model.load_state_dict(obj["state_dict"])
    return model.to(device).eval(), meta


def rebuild_model(meta: dict[str, Any]) -> nn.Module:
    """The untrained network that a model file's state fits: a ``Classifier`` of ``meta["arch"]``,
    or for an imported zoo model (``meta["zoo"]``) the zoo's architecture."""
    if "zoo" in meta:
        from advinfo.nets.zoo import zoo_classifier  # imported here: only zoo models need robustbench

        zoo = meta["zoo"]
        return zoo_classifier(zoo["name"], zoo["dataset"], zoo["threat"])
    return build_model(meta["arch"], meta["num_classes"], meta["mean"], meta["std"], meta["width"])


def load_job_model(
    model_path: str | Path, dataset_path: str | Path, device: str | torch.device = "cpu"
) -> tuple[Classifier, dict[str, Any], ImageDataset]:
    """A job's model (:func:`load_model`) and the dataset it is measured on, refused unless the
    dataset's classes are the model's (:func:`load_source_dataset`)."""
    model, meta = load_model(model_path, device)
    return model, meta, load_source_dataset(dataset_path, meta, model_path)


def check_classes(meta: dict[str, Any], ds: ImageDataset, model_path: str | Path, dataset_path: str | Path) -> None:
    """Refuse to measure a model on a dataset whose classes are not the model's (its labels would
    index other outputs: accuracy near 0 and a wrong posterior, quietly)."""
    names = [str(c) for c in meta.get("classes", [])]
    if meta["num_classes"] != ds.num_classes or (names and names != list(ds.classes)):
        raise ValueError(
            f"model {model_path} has {meta['num_classes']} classes ({_first(names)}), but dataset "
            f"{dataset_path} has {ds.num_classes} ({_first(list(ds.classes))}) — expected the dataset "
            f"the model was trained on (for an imported model: its imported[].images)"
        )


def load_source_dataset(path: str | Path, meta: dict[str, Any], model_path: str | Path) -> ImageDataset:
    """The cached dataset at ``path`` that the model of ``meta`` is measured on, refused unless
    its classes are the model's (:func:`check_classes`)."""
    ds = load_dataset(path)
    check_classes(meta, ds, model_path, path)
    return ds


def _first(names: list[str]) -> str:
    return ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")


def weights_hash(model: torch.nn.Module) -> str:
    """SHA-256 of the state dict's bytes in key order (provenance for derived outputs)."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
