"""Accuracy of a model on uint8 images, clean or under an attack: what training monitors and
every robustness measure counts."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from advinfo.datasets.images import to_unit

# An attack: (images in [0, 1], labels) -> adversarial images.
Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
