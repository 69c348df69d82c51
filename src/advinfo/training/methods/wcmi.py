"""Worst-case mutual information training (Zhu et al.; seed paper): an encoder trained without
labels to keep the Jensen–Shannon information between its inputs and representations high
under the perturbation within ε that lowers it most, and given a linear head afterwards."""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import nn

from advinfo.information.mutual_info import SeparableCritic, WCMILoss, mi_attack
from advinfo.nets.features import iter_features
from advinfo.nets.models import Classifier
from advinfo.nets.probe import fit_probe
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.methods.base import Method, attack_step

log = logging.getLogger(__name__)


class WCMI(Method):
    """The critic trains with the encoder (it is the loss's own part); no accuracy is reported."""

    name = "wcmi"
    needs_labels = False

    def __init__(self, net: nn.Module, cfg: TrainConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__(net, cfg, input_shape)
        self.critic = SeparableCritic(math.prod(input_shape), net.feature_dim)
        self.loss = WCMILoss(net, self.critic)
        self.attack = mi_attack(
            net, self.critic, cfg.eps, cfg.attack_steps, cfg.norm, cfg.random_start, attack_step(cfg, cfg.attack_steps)
        )

    @property
    def extra(self) -> nn.Module:
        return self.critic

    def adversarial(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor:
        return self.attack(x, None, start=start)

    @classmethod
    def final_head(
        cls,
        model: Classifier,
        cfg: TrainConfig,
        train_set: tuple[torch.Tensor, torch.Tensor],
        num_classes: int,
        head_probe: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """A linear probe on the frozen features of the training images, as Zhu et al. evaluate
        such representations, fitted with ``head_probe``'s options (:func:`probe.fit_probe`)."""
        images, labels = train_set
        z = torch.cat(list(iter_features(model, images)))
        fit = fit_probe(z, labels.cpu(), num_classes, seed=cfg.seed, **head_probe)
        model.head = fit.probe.as_linear().to(images.device)
        log.info("fitted the linear head of the unsupervised encoder (l2=%g)", fit.probe.l2)
        return {"head": "linear probe", "head_l2": fit.probe.l2}
