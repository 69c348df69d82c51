"""Which library modules compute a job's result, so that the workflow can list them as inputs.

Snakemake reruns a job when its script changes but does not see the modules the script
imports. Listing them by hand drifts as code moves, and listing all of them would retrain
every network for an edited log message. So a rule lists the ``advinfo`` modules its script
reaches (imports followed transitively with ``ast``, without importing anything), less

- the support modules (:data:`SUPPORT`), which name, place, write, check or log results but
  compute none: editing one reruns nothing (force what it changes: ``--forcerun RULE``);
- the modules a rule names in ``skip``: those of the training methods a job does not run
  (:func:`other_methods`), the builders of other kinds of datasets (:data:`BUILDER_MODULES`),
  and the RobustBench zoo's network for a model that is not a zoo model (:func:`other_model_kinds`).
  A skipped module is not followed either.

Modules are named by their dotted path within the package (``plan.grid``); importing the
methods' registry counts as importing every method's file (:data:`DISCOVERING`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from advinfo.plan.methods import method_facts

PACKAGE = "advinfo"
# Modules by their dotted name within the package. Logging, atomic files,
# errors, GPU placement, process launching, the model-file format, and the plan: config checks,
# the schema's defaults, the fields of a training run and the methods' facts (a job's values reach
# it as Snakemake params, so a changed value reruns it), the grid's names and parameters, the
# attacks' descriptions, the zoo's names. A package's __init__ (a docstring) is support too, unless it discovers
# modules (:func:`is_support`).
SUPPORT = frozenset(
    {"logs", "fileio", "errors", "device", "distributed", "nets.checkpoint"}
    | {f"plan.{m}" for m in ("checks", "schema", "grid", "names", "attack_specs", "codedeps", "preflight")}
    | {f"plan.{m}" for m in ("catalog", "hyperparameters", "methods", "zoo")}
)
# Packages that import every module of theirs at run time (the training methods' registry).
DISCOVERING = ("training.methods",)
# What builds each kind of dataset besides datasets.builders (plan.catalog.dataset_kind).
BUILDER_MODULES = {
    "generated": ("datasets.synthetic",),
    "embedded": (),
    "torchvision": ("datasets.readers",),
    "folder": ("datasets.readers",),
}

# A RobustBench zoo model's network, which the model-file format builds for zoo models only.
ZOO_MODULES = ("nets.zoo",)


def method_modules() -> dict[str, str]:
    """Each training method's own module (one file per method, plan.methods)."""
    return {name: f"training.methods.{fact.module}" for name, fact in method_facts().items()}


def other_methods(method: str) -> tuple[str, ...]:
    """The modules of every training method but ``method``."""
    return tuple(module for name, module in method_modules().items() if name != method)


def other_builders(kind: str) -> tuple[str, ...]:
    """The builder modules of every kind of dataset but ``kind``."""
    own = set(BUILDER_MODULES[kind])
    return tuple(sorted({m for mods in BUILDER_MODULES.values() for m in mods} - own))


def other_model_kinds(zoo: bool) -> tuple[str, ...]:
    """The network modules a job of a zoo model (``zoo``) or of any other model does not run."""
    return () if zoo else ZOO_MODULES


def module_name(path: Path, package_dir: str | Path) -> str:
    """The dotted name of the module at ``path`` within the package: ``plan.grid``, ``__init__``."""
    return ".".join(Path(path).relative_to(package_dir).with_suffix("").parts)


def is_support(module: str) -> bool:
    """Whether editing ``module`` (a dotted name) reruns nothing: :data:`SUPPORT`, and every
    package's ``__init__`` but a discovering one's."""
    package, _, leaf = module.rpartition(".")
    return module in SUPPORT or (leaf == "__init__" and package not in DISCOVERING)


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
    candidate = package_dir.joinpath(*parts)
    if candidate.is_dir():
        return candidate / "__init__.py"
    candidate = candidate.with_suffix(".py")
    return candidate if candidate.exists() else None  # `from advinfo.x import func` names no module


def _discovered(path: Path, package_dir: Path) -> list[Path]:
    """The modules a discovering package's ``__init__`` at ``path`` imports at run time."""
    if path.name != "__init__.py" or module_name(path, package_dir).removesuffix(".__init__") not in DISCOVERING:
        return []
    return sorted(p for p in path.parent.glob("*.py") if p != path)


def library_files(script: str | Path, package_dir: str | Path, skip: Iterable[str] = ()) -> list[Path]:
    """Sorted source files of the ``advinfo`` modules ``script`` imports, directly or not, that
    compute its result: the support modules (:func:`is_support`) are followed but not listed, the modules
    named in ``skip`` (dotted, as :func:`module_name`) neither followed nor listed."""
    package_dir, skip = Path(package_dir), set(skip)
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        current = todo.pop()
        found = [_module_file(name, package_dir) for name in _imported(current)] + _discovered(current, package_dir)
        for path in found:
            if path is not None and module_name(path, package_dir) not in skip and path not in seen:
                seen.add(path)
                todo.append(path)
    return sorted(path for path in seen if not is_support(module_name(path, package_dir)))
