"""Clean and robust accuracy of a trained model, on one radius or over a grid of test radii, and
under the attacks of the gradient-masking checks (advinfo.masking)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advinfo.data import to_unit
from advinfo.evaluation import Attack, AttackSpec, evaluation_attack, seeded_pgd, square
from advinfo.grid import format_eps
from advinfo.masking import MaskingConfig


@torch.no_grad()
def _still_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return model(x).argmax(1) == y


def robust_mask(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, attack: Attack | None, batch_size: int = 256
) -> torch.Tensor:
    """Per image (uint8 in, bool out): still classified correctly after ``attack`` (model in eval mode)."""
    was_training = model.training
    model.eval()
    masks = [torch.zeros(0, dtype=torch.bool, device=labels.device)]
    try:
        for i in range(0, len(images), batch_size):
            x, y = to_unit(images[i : i + batch_size]), labels[i : i + batch_size]
            masks.append(_still_correct(model, attack(x, y) if attack is not None else x, y))
    finally:
        model.train(was_training)
    return torch.cat(masks)


def accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: Attack | None = None,
    batch_size: int = 256,
) -> float:
    """Accuracy in % on uint8 images, under ``attack`` when given (model in eval mode)."""
    return 100.0 * int(robust_mask(model, images, labels, attack, batch_size).sum()) / max(1, len(images))


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
        attack = evaluation_attack(model, eps, spec, num_classes)
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
