"""The evaluation attacks as the plan and the evaluation both describe them: their names, the
classes each needs, their fields and their description in words. Torch-free, so that the config
checks and the report name an attack without loading one (:mod:`advinfo.robust.evaluation` runs it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import advinfo

ATTACKS = ("autoattack", "apgd-ce", "pgd")
# AutoAttack's APGD-T reads the 4th-largest logit.
AUTOATTACK_MIN_CLASSES = 4
MIN_CLASSES = {"autoattack": AUTOATTACK_MIN_CLASSES, "apgd-ce": 2, "pgd": 2}


def describe_attack(spec: dict[str, Any]) -> str:
    """An evaluation attack (the fields of ``evaluation.AttackSpec``) in words, for notes and logs."""
    if spec["name"] == "autoattack":
        return (
            f"AutoAttack, standard version (APGD-CE, APGD-T, FAB-T: {spec['iterations']} iterations; "
            f"Square: {spec['square_queries']} queries; worst case per image)"
        )
    if spec["name"] == "apgd-ce":
        return f"APGD-CE (AutoAttack's first attack; {spec['steps']} iterations)"
    return f"PGD ({spec['steps']} steps, random start, worst iterate kept)"


@dataclass(frozen=True)
class AttackSpec:
    """One evaluation attack: ``name`` in :data:`ATTACKS`; ``steps`` are PGD's steps or APGD-CE's
    iterations; ``iterations`` and ``square_queries`` are AutoAttack's (100 and 5,000 in the
    standard version)."""

    name: str
    norm: str
    steps: int
    iterations: int
    square_queries: int
    seed: int = 0

    def describe(self) -> str:
        """The attack in words, for table notes and logs."""
        return describe_attack(asdict(self))

    def implementation(self) -> str:
        """The code that runs the attack, with its version, for the provenance of a result."""
        if self.name == "pgd":
            return f"advinfo {advinfo.__version__}"
        import pyautoattack

        return f"pyautoattack {pyautoattack.__version__}"
