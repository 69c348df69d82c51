"""Which library modules compute a job's result, so that the workflow can list them as inputs.

Snakemake reruns a job when its script changes but does not see the modules the script
imports. Listing them by hand drifts as code moves, and listing all of them would retrain
every network for an edited log message. So a rule lists the ``advinfo`` modules its script
reaches (imports followed transitively with ``ast``, without importing anything), less

- the support modules (:data:`SUPPORT`), which name, place, write, check or log results but
  compute none: editing one reruns nothing (force what it changes: ``--forcerun RULE``);
- the modules a rule names in ``skip``: those of the training methods a pretraining job
  does not run (:data:`METHOD_MODULES`), those that reach a job only through a file it
  reads (the probe behind a fine-tuning's starting head), and the builders of other kinds of
  datasets (:data:`BUILDER_MODULES`). A skipped module is not followed either.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "advinfo"
# Package metadata, logging, atomic files, errors, config checking, the schema's defaults and
# the fields of a training run (a job's values reach it as Snakemake params, so a changed value
# reruns it), the grid's names and parameters, GPU placement, process launching, and the
# model-file format.
SUPPORT = frozenset(
    {"__init__", "logs", "fileio", "errors", "config", "schema", "grid", "codedeps", "preflight", "catalog", "device"}
    | {"distributed", "checkpoint", "train_config"}
)
# The modules only one training method runs (advinfo.methods.METHODS; the others are shared).
METHOD_MODULES = {"trades": ("trades",), "arat": ("arat",), "wcmi": ("wcmi", "mutual_info", "probe", "features")}
# What builds each kind of dataset besides builders.py (catalog.dataset_kind).
BUILDER_MODULES = {
    "generated": ("synthetic",),
    "embedded": (),
    "torchvision": ("vision_data",),
    "folder": ("vision_data",),
}


def other_methods(method: str) -> tuple[str, ...]:
    """The modules of every training method but ``method`` (all of them for standard training)."""
    return tuple(m for name, mods in METHOD_MODULES.items() if name != method for m in mods)


def other_builders(kind: str) -> tuple[str, ...]:
    """The builder modules of every kind of dataset but ``kind``."""
    own = set(BUILDER_MODULES[kind])
    return tuple(sorted({m for mods in BUILDER_MODULES.values() for m in mods} - own))


def _imported(path: Path) -> set[str]:
    """Names of the ``advinfo`` modules ``path`` imports (``advinfo`` itself for ``import advinfo``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n == PACKAGE or n.startswith(PACKAGE + "."))
    return found


def _module_file(name: str, package_dir: Path) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return package_dir / "__init__.py"
    candidate = package_dir.joinpath(*parts).with_suffix(".py")
    return candidate if candidate.exists() else None  # `from advinfo.x import func` names no module


def library_files(script: str | Path, package_dir: str | Path, skip: Iterable[str] = ()) -> list[Path]:
    """Sorted source files of the ``advinfo`` modules ``script`` imports, directly or not, that
    compute its result: the :data:`SUPPORT` modules are followed but not listed, the modules
    named in ``skip`` neither followed nor listed."""
    package_dir, skip = Path(package_dir), set(skip)
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        for name in _imported(todo.pop()):
            path = _module_file(name, package_dir)
            if path is not None and path.stem not in skip and path not in seen:
                seen.add(path)
                todo.append(path)
    return sorted(path for path in seen if path.stem not in SUPPORT)
