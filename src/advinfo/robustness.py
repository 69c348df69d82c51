"""Clean and PGD robust accuracy of a trained model, on one radius or over a grid of test radii."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advinfo.attacks import PGD
from advinfo.data import to_unit
from advinfo.grid import format_eps


@torch.no_grad()
def _count_correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    return int((model(x).argmax(1) == y).sum())


def accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: PGD | None = None,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
) -> float:
    """Accuracy in % on uint8 images, under ``attack`` when given (model in eval mode)."""
    was_training = model.training
    model.eval()
    correct = 0
    try:
        for i in range(0, len(images), batch_size):
            x = to_unit(images[i : i + batch_size])
            y = labels[i : i + batch_size]
            if attack is not None:
                x = attack(x, y, generator)
            correct += _count_correct(model, x, y)
    finally:
        model.train(was_training)
    return 100.0 * correct / max(1, len(images))


def robustness_curve(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epsilons: Sequence[float],
    steps: int = 20,
    norm: str = "l2",
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, float]:
    """{"clean": acc, "<eps>": robust acc, ...} in %, PGD with random start keeping the
    worst iterate per sample (images are uint8 on the model's device)."""
    result = {"clean": accuracy(model, images, labels, batch_size=batch_size)}
    for eps in epsilons:
        attack = PGD(model, eps, steps=steps, norm=norm, random_start=True, keep_best=True)
        gen = torch.Generator(device=images.device).manual_seed(seed)
        result[format_eps(eps)] = accuracy(model, images, labels, attack, batch_size, gen)
    return result
