"""What installing advinfo does to an environment: no package of its dependency tree below a
release with a published security advisory, no broken requirement, requirements that are ranges
(or say why they are exact), and the rules' conda environment asking for what pyproject.toml asks
for."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
CONDA_ENV = ROOT / "envs" / "torch.yaml"

# The first release of each package without the advisories named (NVD / GitHub advisory database),
# for the packages advinfo's tree holds; `pip install -e '.[test]'` must never leave one below.
ADVISORIES = {
    "requests": ("2.32.4", "CVE-2023-32681, CVE-2024-35195, CVE-2024-47081"),
    "idna": ("3.7", "CVE-2024-3651"),
    "urllib3": ("2.5.0", "CVE-2024-37891, CVE-2025-50181"),
    "certifi": ("2024.7.4", "CVE-2024-39689"),
    "jinja2": ("3.1.6", "CVE-2024-56201, CVE-2024-56326, CVE-2025-27516"),
    "gitpython": ("3.1.41", "CVE-2024-22190"),
    "torch": ("2.6.0", "CVE-2025-32434"),
    "pillow": ("10.3.0", "CVE-2023-50447, CVE-2024-28219"),
    "tqdm": ("4.66.3", "CVE-2024-34062"),
    "scikit-learn": ("1.5.0", "CVE-2024-5206"),
    "setuptools": ("78.1.1", "CVE-2024-6345, CVE-2025-47273"),
    "black": ("24.3.0", "CVE-2024-21503"),
}
EXACT = ("==", "===")
PIP_CHECK_LINE = re.compile(r"^(\S+) \S+ (?:requires|has requirement) ([A-Za-z0-9._-]+)")


def dependency_tree(root: str = "advinfo", extras: frozenset[str] = frozenset({"test", "zoo"})) -> dict[str, str]:
    """Canonical name -> installed version of ``root`` and every installed distribution it needs,
    directly or not (``extras`` of the root included); requirements whose environment markers do not
    hold here are skipped, and ones not installed are left to ``pip check``."""
    tree: dict[str, str] = {}
    todo = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        if canonicalize_name(name) in tree:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        tree[canonicalize_name(name)] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in wanted | {""}):
                todo.append((req.name, frozenset(req.extras)))
    return tree


def runtime_requirements() -> list[str]:
    return tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]


def floor(req: Requirement) -> Version | None:
    """The lowest version a requirement admits, from its >=, ~= or == specifiers."""
    floors = [Version(s.version) for s in req.specifier if s.operator in (">=", "~=", "==", "===")]
    return max(floors, default=None)


def test_the_walk_reaches_the_direct_and_the_indirect_dependencies():
    tree = dependency_tree()
    assert {"advinfo", "torch", "pyautoattack", "snakemake", "pytest"} <= tree.keys()
    assert {"requests", "idna"} <= tree.keys(), "snakemake needs requests, requests needs idna"


def test_no_package_of_the_tree_sits_below_a_release_with_an_advisory():
    tree = dependency_tree()
    below = [
        f"{name} {tree[name]} < {safe} ({advisories})"
        for name, (safe, advisories) in ADVISORIES.items()
        if name in tree and Version(tree[name]) < Version(safe)
    ]
    assert not below, "installed below a security release: " + "; ".join(below)


def test_pip_check_finds_no_broken_requirement_in_the_tree():
    tree = dependency_tree()
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False).stdout
    broken = [
        line
        for line in out.splitlines()
        if (m := PIP_CHECK_LINE.match(line)) and {canonicalize_name(m[1]), canonicalize_name(m[2])} & tree.keys()
    ]
    assert not broken, "\n".join(broken)


def test_no_requirement_admits_a_release_with_an_advisory():
    """The floors of pyproject.toml (runtime, extras, build) exclude what the install test above
    would catch only after the fact."""
    project = tomllib.loads(PYPROJECT.read_text())
    lines = (
        project["project"]["dependencies"]
        + [r for extra in project["project"]["optional-dependencies"].values() for r in extra]
        + project["build-system"]["requires"]
    )
    for req in map(Requirement, lines):
        name = canonicalize_name(req.name)
        if name in ADVISORIES:
            low = floor(req)
            assert low is not None and low >= Version(ADVISORIES[name][0]), f"{req} admits {ADVISORIES[name]}"


def test_every_runtime_requirement_is_a_range_with_a_floor():
    for req in map(Requirement, runtime_requirements()):
        assert floor(req) is not None, f"{req} has no floor: it admits any release, however old"


@pytest.mark.parametrize("path", [PYPROJECT, CONDA_ENV], ids=lambda p: p.name)
def test_every_exact_pin_says_why_on_its_line(path):
    lines = path.read_text().splitlines()
    exact = [line for line in lines if re.search(r"[\w\]]\s*===?\s*\d", line) and not line.lstrip().startswith("#")]
    unexplained = [line.strip() for line in exact if "#" not in line]
    assert not unexplained, f"{path.name}: exact pins without a comment saying why: {unexplained}"


def test_the_conda_environment_asks_for_what_pyproject_asks_for():
    """envs/torch.yaml is pyproject.toml's runtime requirements but snakemake, which runs the
    workflow from outside the rules' environment."""
    env = yaml.safe_load(CONDA_ENV.read_text())["dependencies"]
    pip = next(item["pip"] for item in env if isinstance(item, dict))
    ours = {str(Requirement(r)) for r in runtime_requirements() if Requirement(r).name != "snakemake"}
    assert {str(Requirement(r)) for r in pip} == ours
