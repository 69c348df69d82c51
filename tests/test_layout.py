"""The library's layout: sub-packages in pipeline order, each importing only from those below it,
a parse-time package that never imports torch, and one public name per function or class."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from conftest import ROOT

PKG = ROOT / "src" / "advinfo"
# Bottom to top; the shared leaves (modules directly in advinfo/) are below everything.
PACKAGES = ["plan", "datasets", "nets", "robust", "information", "training", "transfer", "report"]


def module_of(path: Path) -> str:
    return ".".join(("advinfo", *path.relative_to(PKG).with_suffix("").parts)).removesuffix(".__init__")


def layer(module: str) -> int:
    """0 for a shared leaf (or the package itself), else 1 + the package's place in PACKAGES."""
    parts = module.split(".")
    return 0 if len(parts) < 3 and parts[-1] not in PACKAGES else 1 + PACKAGES.index(parts[1])


def imports(path: Path) -> set[str]:
    """The advinfo modules (or packages) ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("advinfo")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("advinfo"):
            found.add(node.module)
    return found


def test_the_packages_are_the_layout():
    assert sorted(p.name for p in PKG.iterdir() if (p / "__init__.py").exists()) == sorted(PACKAGES)


def test_no_module_imports_from_a_package_above_it():
    upward = [
        f"{module_of(path)} (layer {layer(module_of(path))}) imports {target} (layer {layer(target)})"
        for path in sorted(PKG.rglob("*.py"))
        for target in imports(path)
        if target != "advinfo" and layer(target) > layer(module_of(path))
    ]
    assert not upward, "\n".join(upward)


def test_the_module_graph_has_no_cycle():
    graph = {module_of(p): {t for t in imports(p) if t != "advinfo"} for p in PKG.rglob("*.py")}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, " -> ".join([*trail, node, nxt])
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_the_plan_imports_no_torch():
    """The workflow imports the plan while it parses, on machines (a login node) that may not hold
    torch; every plan module together must not pull it in."""
    plan = sorted(module_of(p) for p in (PKG / "plan").glob("*.py"))
    code = (
        f"import sys; import {', '.join(plan)}; print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_functions_and_classes_have_one_name_each():
    homes = defaultdict(list)
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                homes[node.name].append(module_of(path))
    assert {name: mods for name, mods in homes.items() if len(mods) > 1} == {}


def test_the_layer_rule_catches_an_upward_import(tmp_path):
    """The walk above sees a training module imported by a dataset module."""
    path = PKG / "datasets" / "images.py"
    assert layer("advinfo.training.loop") > layer(module_of(path)) > layer("advinfo.fileio")
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from advinfo.training.loop import train\n")
    assert imports(bad) == {"advinfo.training.loop"}
