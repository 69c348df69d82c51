"""Which library modules a job script runs, so that the workflow can list them as inputs.

Snakemake reruns a job when its script changes but does not see the modules the script
imports; listing them by hand drifts as code moves. Following the script's ``advinfo``
imports (transitively, with ``ast``, without importing anything) keeps the list exact.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "advinfo"


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


def library_files(script: str | Path, package_dir: str | Path) -> list[Path]:
    """Sorted source files of every ``advinfo`` module ``script`` imports, directly or not."""
    package_dir = Path(package_dir)
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        for name in _imported(todo.pop()):
            path = _module_file(name, package_dir)
            if path is not None and path not in seen:
                seen.add(path)
                todo.append(path)
    return sorted(seen)
