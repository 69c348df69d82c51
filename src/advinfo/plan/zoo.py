"""What the plan knows of the RobustBench model zoo (``imported[].format: robustbench``), without
torch: which models robustbench defines (read from its model-zoo source with ``ast``, as
``plan.methods`` reads the methods), the resolution and radius of each (dataset, threat), and the
names a zoo model takes in result paths."""

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
_INSTALL = "pip install -e '.[zoo]'"


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


def zoo_problems(config: dict[str, Any]) -> list[str]:
    """One line per ``robustbench`` entry that robustbench cannot build (the package missing, an
    unknown (dataset, threat) or model name), a fine-tuning depth that needs residual stages, and
    leaderboard numbers where there is no AutoAttack board to compare with."""
    problems = [
        f"config key 'imported[{i}].leaderboard': {e['format']} checkpoints have no leaderboard — expected it "
        f"only for format robustbench"
        for i, e in enumerate(config["imported"])
        if "leaderboard" in e and not is_zoo(e)
    ]
    entries = [(i, e) for i, e in enumerate(config["imported"]) if is_zoo(e)]
    if entries and not zoo_models():
        return problems + [
            f"config key 'imported[{entries[0][0]}].format': robustbench needs the robustbench package — {_INSTALL}"
        ]
    stages = config["transfer"]["finetune"]["stages"]
    for i, entry in entries:
        key = f"config key 'imported[{i}].name'"
        known = zoo_models().get((entry["dataset"], entry["threat"]))
        if known is None:
            problems.append(f"{key}: robustbench has no {entry['dataset']}/{entry['threat']} models")
        elif entry["name"] not in known:
            from difflib import get_close_matches

            hint = get_close_matches(entry["name"], known, n=1)
            guess = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                f"{key}: robustbench knows no {entry['dataset']}/{entry['threat']} model {entry['name']!r}{guess}"
            )
        if "leaderboard" in entry and (entry["dataset"], entry["threat"]) not in LEADERBOARD_EPS:
            problems.append(
                f"config key 'imported[{i}].leaderboard': robustbench's {entry['dataset']}/{entry['threat']} board is "
                f"not AutoAttack at one radius — expected it only for "
                + ", ".join(f"{d}/{t}" for d, t in LEADERBOARD_EPS)
            )
        if stages and max(stages) > 0:
            problems.append(
                f"config key 'transfer.finetune.stages': {stages} unfreezes residual stages, which the zoo model "
                f"imported[{i}] ({entry['name']}) does not expose — expected [] or [0] (its head only)"
            )
    return problems
