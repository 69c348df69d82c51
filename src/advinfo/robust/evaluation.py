"""The attack that measures robust accuracy (``evaluate.attack``): AutoAttack, APGD-CE or PGD.

AutoAttack (Croce & Hein 2020) is what reviewers accept since RobustBench, and a number is
comparable with the leaderboard's only when it comes from the same code. So AutoAttack, APGD-CE
and Square come from the authors' own package, pyautoattack (fra31/auto-attack on PyPI, the one
robustbench depends on), set up exactly as its standard version sets them up: APGD-CE, APGD-T and
FAB-T (9 target classes, 100 iterations each) and Square (5,000 queries), each run on the images
the previous ones left correctly classified, so an image counts as robust only if all four fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from advinfo.plan.attack_specs import ATTACKS, MIN_CLASSES, AttackSpec
from advinfo.robust.accuracy import Attack
from advinfo.robust.attacks import PGD

if TYPE_CHECKING:
    from pyautoattack import AutoAttack

AUTOATTACK_NORMS = {"l2": "L2", "linf": "Linf"}  # advinfo's norm names: pyautoattack's
# APGD's fields that its constructor derives from n_iter (the step-size checkpoints).
APGD_SCHEDULE = ("n_iter", "n_iter_orig", "n_iter_2", "n_iter_min", "size_decr")


def build_attack(model: nn.Module, eps: float, spec: AttackSpec, num_classes: int) -> Attack:
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
    adversary = autoattack(model, eps, spec.norm, spec.seed)
    if spec.name == "apgd-ce":
        return own_rng(with_iterations(adversary.apgd, spec.steps).perturb, model)
    adversary.apgd = with_iterations(adversary.apgd, spec.iterations)
    adversary.apgd_targeted = with_iterations(adversary.apgd_targeted, spec.iterations)
    adversary.fab.n_iter = spec.iterations  # FAB derives nothing from it
    adversary.square.n_queries = spec.square_queries
    # The standard version targets the 9 highest other classes; a model with fewer has K - 1.
    targets = min(adversary.apgd_targeted.n_target_classes, num_classes - 1)
    adversary.apgd_targeted.n_target_classes = adversary.fab.n_target_classes = targets
    return own_rng(lambda x, y: adversary.run_standard_evaluation(x, y, batch_size=len(x))[0], model)


def autoattack(model: nn.Module, eps: float, norm: str, seed: int) -> AutoAttack:
    """pyautoattack's standard version at radius ``eps``, its attacks seeded with ``seed``."""
    from pyautoattack import AutoAttack  # imported here: jobs that never attack skip its import

    adversary = AutoAttack(
        model, norm=AUTOATTACK_NORMS[norm], eps=eps, seed=seed, version="standard", device=_device(model)
    )
    adversary.verbose = False  # per-batch progress; its warnings (gradient masking) still reach the log
    return adversary


def with_iterations(apgd: Any, n_iter: int) -> Any:
    """pyautoattack's APGD (or APGD-T) with every setting AutoAttack gave it but ``n_iter``
    iterations: its step-size checkpoints are derived from n_iter when it is built, so a new one is
    built and given the old one's other settings."""
    if apgd.n_iter == n_iter:
        return apgd
    fresh = type(apgd)(apgd.model, n_iter=n_iter, norm=apgd.norm, eps=apgd.eps)
    fresh.__dict__.update({k: v for k, v in vars(apgd).items() if k not in APGD_SCHEDULE})
    return fresh


def square(model: nn.Module, eps: float, norm: str, queries: int, seed: int) -> Attack:
    """The black-box Square attack (Andriushchenko et al. 2020) as AutoAttack sets it up, with
    ``queries`` forward passes per image at most: no gradient read."""
    attack = autoattack(model, eps, norm, seed).square
    attack.n_queries = queries
    return own_rng(attack.perturb, model)


def own_rng(attack: Attack, model: nn.Module) -> Attack:
    """``attack`` with the global random state restored after each call: pyautoattack seeds
    torch's global generators from its own seed, which would otherwise reseed the caller."""
    device = _device(model)

    def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return attack(x, y)

    return run


def seeded_pgd(model: nn.Module, eps: float, steps: int, norm: str, seed: int, **options: Any) -> Attack:
    """PGD (``attacks.PGD`` with ``options``) drawing its random starts from one generator seeded
    with ``seed``, shared by all batches; on a GPU each batch shape's steps are replayed as one
    CUDA graph (a whole test set is dozens of batches of one shape)."""
    pgd = PGD(model, eps, steps=steps, norm=norm, graphed=True, **options)
    generator = torch.Generator(device=_device(model)).manual_seed(seed)
    return lambda x, y: pgd(x, y, generator)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device
