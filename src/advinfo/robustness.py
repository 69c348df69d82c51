"""Clean and PGD robust accuracy of a trained model over a grid of test radii."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from advinfo.attacks import PGD
from advinfo.config import format_eps
from advinfo.train import accuracy


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
