"""The attack that measures robust accuracy (``evaluate.attack``): AutoAttack, APGD-CE or PGD.

AutoAttack (Croce & Hein 2020) is what reviewers accept since RobustBench. It comes from
torchattacks: pure PyTorch on the model's own device, maintained, on PyPI, and it implements all
four attacks of the standard version (the reference code, fra31/auto-attack, is not on PyPI).
torchattacks' ``AutoAttack`` class runs 10 iterations per attack; the standard version runs 100,
so :func:`evaluation_attack` assembles the standard version from torchattacks' parts: APGD-CE,
APGD-T and FAB-T (9 target classes, 100 iterations each) and Square (5,000 queries), each run
on the images the previous ones left correctly classified, so an image counts as robust only
if all four fail (the per-image worst case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from advinfo.attacks import PGD
from advinfo.grid import describe_attack
from advinfo.preflight import AUTOATTACK_MIN_CLASSES

ATTACKS = ("autoattack", "apgd-ce", "pgd")
# The standard version's APGD-T and FAB-T attack the 9 highest non-true classes.
TARGET_CLASSES = 9
MIN_CLASSES = {"autoattack": AUTOATTACK_MIN_CLASSES, "apgd-ce": 2, "pgd": 2}

TORCHATTACKS_NORMS = {"l2": "L2", "linf": "Linf"}  # advinfo's norm names: torchattacks'

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


def evaluation_attack(model: nn.Module, eps: float, spec: AttackSpec, num_classes: int) -> Attack:
    """``attack(x, y) -> x_adv`` on images in [0, 1], deterministic from ``spec.seed``."""
    if spec.name not in ATTACKS:
        raise ValueError(f"evaluate.attack must be one of {ATTACKS}, got {spec.name!r}")
    if num_classes < MIN_CLASSES[spec.name]:
        raise ValueError(
            f"evaluate.attack {spec.name} needs {MIN_CLASSES[spec.name]} classes or more (APGD-T's loss), "
            f"the model has {num_classes}: use apgd-ce or pgd"
        )
    if spec.name == "pgd":  # random start, each image's worst iterate kept
        return seeded_pgd(model, eps, spec.steps, spec.norm, spec.seed, random_start=True, keep_best=True)
    import torchattacks  # imported here: jobs that never attack skip its import

    norm = TORCHATTACKS_NORMS[spec.norm]
    if spec.name == "apgd-ce":
        return torchattacks.APGD(model, norm=norm, eps=eps, steps=spec.steps, seed=spec.seed, loss="ce")
    targets = min(TARGET_CLASSES, num_classes - 1)
    apgd_t = torchattacks.APGDT(model, norm=norm, eps=eps, steps=spec.iterations, seed=spec.seed, n_classes=num_classes)
    fab_t = torchattacks.FAB(
        model, norm=norm, eps=eps, steps=spec.iterations, seed=spec.seed, multi_targeted=True, n_classes=num_classes
    )
    apgd_t.n_target_classes = fab_t.n_target_classes = targets
    return torchattacks.MultiAttack(
        [
            torchattacks.APGD(model, norm=norm, eps=eps, steps=spec.iterations, seed=spec.seed, loss="ce"),
            apgd_t,
            fab_t,
            square(model, eps, spec.norm, spec.square_queries, spec.seed),
        ]
    )


def square(model: nn.Module, eps: float, norm: str, queries: int, seed: int) -> Attack:
    """The black-box Square attack (Andriushchenko et al. 2020): no gradient read, ``queries``
    forward passes per image at most."""
    import torchattacks

    return torchattacks.Square(model, norm=TORCHATTACKS_NORMS[norm], eps=eps, n_queries=queries, seed=seed)


def seeded_pgd(model: nn.Module, eps: float, steps: int, norm: str, seed: int, **options: Any) -> Attack:
    """PGD (``attacks.PGD`` with ``options``) drawing its random starts from one generator seeded
    with ``seed``, shared by all batches; on a GPU each batch shape's steps are replayed as one
    CUDA graph (a whole test set is dozens of batches of one shape)."""
    pgd = PGD(model, eps, steps=steps, norm=norm, graphed=True, **options)
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    return lambda x, y: pgd(x, y, generator)
