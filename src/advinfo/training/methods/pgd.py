"""PGD adversarial training (Madry et al., the paper's Eq. 1): cross-entropy on PGD examples."""

from __future__ import annotations

import torch
from torch import nn

from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.methods.base import Method, training_attack


class PGDTraining(Method):
    """Cross-entropy on k-step PGD examples within ε (Madry et al.)."""

    name = "pgd"

    def __init__(self, net: nn.Module, cfg: TrainConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__(net, cfg, input_shape)
        self.attack = training_attack(net, cfg, cfg.attack_steps)

    def adversarial(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor:
        return self.attack(x, y, start=start)
