"""Clean and robust accuracy of a trained model, on one radius or over a grid of test radii, and
under the attacks of the gradient-masking checks (advinfo.robust.masking)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advinfo.plan.attack_specs import AttackSpec
from advinfo.plan.names import format_eps
from advinfo.robust.accuracy import accuracy, robust_mask
from advinfo.robust.evaluation import build_attack, seeded_pgd, square
from advinfo.robust.masking import MaskingConfig


def robustness_curve(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilons: Sequence[float],
    spec: AttackSpec,
    num_classes: int,
    batch_size: int = 256,
) -> dict[str, float]:
    """{"clean": acc, "<eps>": robust acc, ...} in %, under the evaluation attack ``spec`` at each
    radius (images are uint8 on the model's device)."""
    result = {"clean": accuracy(model, images, labels, batch_size=batch_size)}
    for eps in epsilons:
        attack = build_attack(model, eps, spec, num_classes)
        result[format_eps(eps)] = accuracy(model, images, labels, attack, batch_size)
    return result


def masking_accuracies(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int,
    norm: str,
    cfg: MaskingConfig,
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy in % at ``eps`` under PGD (``steps``), stronger PGD (worst of ``restarts``
    starts of ``steps × steps_factor``), one gradient step of length ε, and Square; and under
    PGD at ``large_eps``."""

    def acc(mask: torch.Tensor) -> float:
        return 100.0 * int(mask.sum()) / max(1, mask.numel())

    strong = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
    for restart in range(cfg.restarts):
        attack = seeded_pgd(model, eps, steps * cfg.steps_factor, norm, seed + 1 + restart, keep_best=True)
        strong &= robust_mask(model, images, labels, attack)
    black_box = square(model, eps, norm, cfg.square_queries, seed)
    return {
        "clean": acc(robust_mask(model, images, labels, None)),
        "pgd": acc(robust_mask(model, images, labels, seeded_pgd(model, eps, steps, norm, seed, keep_best=True))),
        "pgd_strong": acc(strong),
        "single_step": acc(
            robust_mask(model, images, labels, seeded_pgd(model, eps, 1, norm, seed, step_size=eps, random_start=False))
        ),
        "square": acc(robust_mask(model, images, labels, black_box)),
        "large_eps": acc(
            robust_mask(model, images, labels, seeded_pgd(model, cfg.large_eps, steps, norm, seed, keep_best=True))
        ),
    }
