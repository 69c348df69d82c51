"""What the plan knows of the RobustBench model zoo (``imported[].format: robustbench``), without
torch: which models robustbench defines (read from its model-zoo source with ``ast``, as
``plan.methods`` reads the methods), the resolution and radius of each (dataset, threat), and the
names a zoo model takes in result paths. ``plan.checks`` holds a config's zoo entries to them."""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path
from typing import Any

ZOO_FORMAT = "robustbench"
# The input resolution of each zoo dataset's networks.
ZOO_IMAGE_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet": 224}
IMPORTED_IMAGE_SIZE = 224  # other imported checkpoints: the ImageNet input
# The leaderboard's radius of each (dataset, threat): its AutoAttack accuracy is measured there.
LEADERBOARD_EPS = {
    ("cifar10", "Linf"): 8 / 255,
    ("cifar10", "L2"): 0.5,
    ("cifar100", "Linf"): 8 / 255,
    ("imagenet", "Linf"): 4 / 255,
}
_ZOO_FILES = {"cifar10": "cifar10.py", "cifar100": "cifar100.py", "imagenet": "imagenet.py"}


def is_zoo(entry: dict[str, Any]) -> bool:
    return entry["format"] == ZOO_FORMAT


def zoo_slug(name: str) -> str:
    """A zoo name as a path component: lower case, runs of other characters as '_'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def imported_arch(entry: dict[str, Any]) -> str:
    """The ``{arch}`` of an imported model's paths: its ``arch``, or a zoo model's slugged name."""
    return entry.get("arch") or zoo_slug(entry["name"])


def imported_image_size(entry: dict[str, Any]) -> int:
    """An imported model's input resolution: its ``image_size``, else its zoo dataset's, else 224."""
    if entry.get("image_size"):
        return int(entry["image_size"])
    return ZOO_IMAGE_SIZE[entry["dataset"]] if is_zoo(entry) else IMPORTED_IMAGE_SIZE


def _zoo_dir() -> Path | None:
    spec = importlib.util.find_spec("robustbench")  # finds the package without running it
    return None if spec is None else Path(next(iter(spec.submodule_search_locations))) / "model_zoo"


def _ordered_dicts(tree: ast.Module) -> dict[str, list[list[ast.expr]]]:
    """{variable: [each pair's elements]} of the file's top-level ``x = OrderedDict([(k, v), ...])``."""
    out = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        call = node.value
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "OrderedDict" and call.args:
            pairs = call.args[0]
            if isinstance(pairs, ast.List):
                out[node.targets[0].id] = [p.elts for p in pairs.elts if isinstance(p, ast.Tuple) and len(p.elts) == 2]
    return out


@cache
def zoo_models() -> dict[tuple[str, str], tuple[str, ...]]:
    """{(dataset, threat): model names} of the installed robustbench ({} when it is not installed),
    read from ``robustbench/model_zoo/<dataset>.py``: its ``<dataset>_models`` maps each
    ``ThreatModel.<threat>`` to an ``OrderedDict`` of ``(name, entry)`` pairs."""
    folder = _zoo_dir()
    if folder is None:
        return {}
    out = {}
    for dataset, filename in _ZOO_FILES.items():
        named = _ordered_dicts(ast.parse((folder / filename).read_text()))
        by_threat = next(v for k, v in named.items() if k.endswith("_models"))
        for threat, variable in by_threat:
            names = [name for name, _ in named[variable.id]]
            out[(dataset, threat.attr)] = tuple(n.value for n in names if isinstance(n, ast.Constant))
    return out
