"""The training methods as the plan sees them: each method's name, whether it needs labels, its
own hyperparameters and which of them name a residual stage, read from its file in
``training/methods/`` with ``ast`` (those files import torch; the plan must not), in the order
tables list them.

One file per method is the whole registry: :mod:`advinfo.training.methods` imports the same
files, and ``tests/test_methods_registry.py`` checks that both views and the schema agree.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from advinfo.plan.schema import load_schema

METHODS_DIR = Path(__file__).resolve().parents[1] / "training" / "methods"
STANDARD = "standard"  # the method of every model trained at ε = 0, and only of those
# The class attributes of a method read from its file (literals: Method's own defaults otherwise).
DECLARED = ("name", "needs_labels", "hyperparameters", "stage_hyperparameters")


@dataclass(frozen=True)
class MethodFacts:
    """What the plan needs to know of one training method (the class attributes of its
    :class:`~advinfo.training.methods.base.Method`)."""

    name: str
    module: str  # the file's stem in training/methods
    needs_labels: bool = True
    hyperparameters: tuple[str, ...] = ()
    stage_hyperparameters: tuple[str, ...] = ()


def _class_facts(node: ast.ClassDef, module: str) -> MethodFacts | None:
    """The facts a class body states as literals, or None for a class without a ``name``."""
    found = {}
    for stmt in node.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
        target = stmt.target if isinstance(stmt, ast.AnnAssign) and stmt.value is not None else target
        if isinstance(target, ast.Name) and target.id in DECLARED:
            found[target.id] = ast.literal_eval(stmt.value)
    return MethodFacts(module=module, **found) if "name" in found else None


def read_methods(directory: Path) -> dict[str, MethodFacts]:
    """Every method class of the ``.py`` files in ``directory``, by name."""
    facts = {}
    for path in sorted(directory.glob("*.py")):
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if isinstance(node, ast.ClassDef) and (fact := _class_facts(node, path.stem)) is not None:
                facts[fact.name] = fact
    return facts


def schema_methods() -> list[str]:
    """The adversarial training methods a config may name: the schema's ``pretrain.methods`` enum."""
    return list(load_schema()["properties"]["pretrain"]["properties"]["methods"]["items"]["enum"])


@cache
def method_facts() -> dict[str, MethodFacts]:
    """Every training method: standard training, then the schema's enum in its order. A method
    file the schema does not list, or a listed method without a file, is an error."""
    facts, order = read_methods(METHODS_DIR), [STANDARD, *schema_methods()]
    if set(facts) != set(order):
        raise ValueError(
            f"the methods of {METHODS_DIR} ({', '.join(sorted(facts))}) are not standard and the schema's "
            f"pretrain.methods enum ({', '.join(order[1:])}): add a new method's name to the enum"
        )
    return {name: facts[name] for name in order}


def method_names() -> list[str]:
    """Every training method's name, in the order tables list them."""
    return list(method_facts())


def label_free() -> frozenset[str]:
    """The methods that learn without labels: their head is a linear probe fitted after training."""
    return frozenset(name for name, fact in method_facts().items() if not fact.needs_labels)


def method_fact(method: str) -> MethodFacts:
    """The facts of ``method``, with an error that lists the known methods."""
    facts = method_facts()
    if method not in facts:
        raise ValueError(f"unknown training method {method!r}; expected one of {', '.join(facts)}")
    return facts[method]


def method_stage_keys(method: str) -> tuple[str, ...]:
    """The ``pretrain`` keys of ``method`` that name a residual stage."""
    return method_fact(method).stage_hyperparameters


def method_hyperparameters(method: str) -> tuple[str, ...]:
    """The ``pretrain`` keys only ``method`` reads."""
    return method_fact(method).hyperparameters
