"""Networks trained elsewhere (the public robust ImageNet models), imported from local files
without running any code from them.

Two formats. The robustness library's (MadryLab): a dict with ``model`` (older files:
``state_dict``) whose keys are ``module.model.*`` (the network), ``module.attacker.model.*``
(a duplicate) and ``module.normalizer.new_mean`` / ``new_std``. And a torchvision ResNet
state dict (bare or under ``state_dict``), normalised with ImageNet's statistics. Both name
layers as torchvision's ResNet does; ``classifier_state`` renames them to ``Classifier``'s.

Every file is pinned by SHA-256, checked before it is read, and read with
``torch.load(weights_only=True)``: a pickle that would build anything but tensors and plain
containers (such as one that runs code) is refused, not executed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from advinfo.fileio import UnsafeFileError, load_tensors
from advinfo.nets.models import Classifier, build_model

FORMATS = ("robustness", "torchvision")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision ResNet name -> Classifier name (the stem holds conv1 and bn1; layer k is stage k-1)
_RENAMES = {
    "conv1.": "stem.0.",
    "bn1.": "stem.1.",
    "layer1.": "stages.0.",
    "layer2.": "stages.1.",
    "layer3.": "stages.2.",
    "layer4.": "stages.3.",
    "fc.": "head.",
}


class CheckpointError(ValueError):
    """A checkpoint file that cannot be imported; the message names the file."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> None:
    """Refuse a file whose bytes are not the pinned ones."""
    if not Path(path).exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist (imported[].path)")
    actual = file_sha256(path)
    if actual != expected.lower():
        raise CheckpointError(
            f"checkpoint {path} has SHA-256 {actual}, but the config pins {expected}; "
            f"check the file or update imported[].sha256"
        )


def read_tensors(path: str | Path) -> Any:
    """:func:`fileio.load_tensors` (``weights_only=True``), with a refusal that says what to do."""
    try:
        return load_tensors(path)
    except UnsafeFileError as err:
        raise CheckpointError(
            f"checkpoint {path} needs code to unpickle and was refused (nothing in it was run): {err}. "
            f"Load it where you trust it and save only its tensors: torch.save(ckpt['model'], 'weights.pt')"
        ) from err
    except ValueError as err:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated: {err}") from err


def _strip(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def split_robustness(obj: Any, path: str | Path) -> tuple[dict[str, torch.Tensor], list[float], list[float]]:
    """(network state, mean, std) of a robustness-library checkpoint."""
    state = obj.get("model", obj.get("state_dict")) if isinstance(obj, dict) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"checkpoint {path} is not in the robustness library's format "
            f"(expected a dict with 'model' or 'state_dict')"
        )
    prefix = "module." if any(k.startswith("module.") for k in state) else ""
    network = _strip(state, f"{prefix}model.")
    if not network or f"{prefix}normalizer.new_mean" not in state:
        raise CheckpointError(
            f"checkpoint {path} lacks the robustness library's '{prefix}model.*' or '{prefix}normalizer.new_mean' keys"
        )
    mean = state[f"{prefix}normalizer.new_mean"].flatten().tolist()
    std = state[f"{prefix}normalizer.new_std"].flatten().tolist()
    return network, mean, std


def split_torchvision(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """The network state of a torchvision-format file (bare, under 'state_dict', 'module.' prefixes)."""
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} is not a torchvision state dict (a mapping of names to tensors)")
    return _strip(state, "module.") if all(k.startswith("module.") for k in state) else dict(state)


def classifier_state(network: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ResNet parameter names renamed to ``Classifier``'s."""
    out = {}
    for key, value in network.items():
        prefix = next((p for p in _RENAMES if key.startswith(p)), None)
        out[_RENAMES[prefix] + key[len(prefix) :] if prefix else key] = value
    return out


def import_checkpoint(path: str | Path, sha256: str, fmt: str, arch: str) -> tuple[Classifier, dict[str, Any]]:
    """The network in ``path`` as a ``Classifier`` (eval mode) and what its metadata needs:
    num_classes, mean, std and the checkpoint's epoch when it records one."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown checkpoint format {fmt!r}; expected one of {', '.join(FORMATS)}")
    verify_sha256(path, sha256)
    obj = read_tensors(path)
    if fmt == "robustness":
        network, mean, std = split_robustness(obj, path)
    else:
        network, mean, std = split_torchvision(obj, path), list(IMAGENET_MEAN), list(IMAGENET_STD)
    state = classifier_state(network)
    if "head.weight" not in state:
        raise CheckpointError(f"checkpoint {path} has no classifier ('fc.weight'); is it a ResNet?")
    num_classes = int(state["head.weight"].shape[0])
    model = build_model(arch, num_classes, mean, std)
    own = set(model.state_dict()) - {"normalize.mean", "normalize.std"}  # these come from mean and std
    absent, extra = sorted(own - set(state)), sorted(set(state) - own)
    if absent or extra:
        raise CheckpointError(
            f"checkpoint {path} does not fit {arch}: missing {absent[:5]}, "
            f"unexpected {extra[:5]} ({len(absent)} and {len(extra)} in all)"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a tensor of the wrong shape
        raise CheckpointError(f"checkpoint {path} does not fit {arch}: {err}") from err
    epoch = obj.get("epoch") if isinstance(obj, dict) else None
    info = {
        "num_classes": num_classes,
        "mean": mean,
        "std": std,
        "epoch": int(epoch) if isinstance(epoch, int | float) else None,
    }
    return model.eval(), info
