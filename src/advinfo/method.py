"""What a training method is, and the two that are plain cross-entropy: standard training and
PGD adversarial training (Madry et al., the paper's Eq. 1).

A method owns everything in which methods differ: how the network is changed before training
(:meth:`Method.prepare`), the attack that makes a batch's adversarial examples, the loss module
(with any trainable parts of its own, which the optimiser, data parallelism and the resume state
then see), a hook at the start of every epoch, what happens to the network after training
(:meth:`Method.finish`) and its final head. The trainer calls these and never asks which method
it runs. Adding a method: a subclass, an entry in ``advinfo.methods.METHODS``, and the name in
the schema's ``pretrain.methods`` enum (and, if it has a module of its own, in
``advinfo.codedeps.METHOD_MODULES``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from advinfo.attacks import PGD
from advinfo.models import Classifier
from advinfo.train_config import TrainConfig


def attack_step(cfg: TrainConfig, steps: int) -> float:
    """The step of a ``steps``-step attack within the run's ε: step_size_factor·ε/steps (Madry
    et al.'s 2.5 by default)."""
    return cfg.step_size_factor * cfg.eps / steps


def training_attack(
    net: nn.Module, cfg: TrainConfig, steps: int, keep_best: bool = False, graphed: bool = False
) -> PGD:
    """Cross-entropy PGD of ``steps`` steps within the run's ε (the training attack's
    pretrain.attack_steps, or the monitor's more; ``graphed``: see :class:`PGD`)."""
    return PGD(
        net,
        cfg.eps,
        steps=steps,
        step_size=attack_step(cfg, steps),
        norm=cfg.norm,
        random_start=cfg.random_start,
        keep_best=keep_best,
        graphed=graphed,
    )


class CrossEntropy(nn.Module):
    """(CE of the batch's examples, their logits): of the adversarial ones when there are."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, x_adv: torch.Tensor | None, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x if x_adv is None else x_adv)
        return F.cross_entropy(logits, y), logits


class Method:
    """Standard training: cross-entropy on clean images, no attack.

    ``net`` is the network as the step runs it (compiled or not); ``loss`` is the module the
    optimiser trains (the network's parameters and the method's own) and data parallelism wraps:
    ``loss(x, x_adv, y)`` gives (loss, logits whose accuracy is reported, or None).
    """

    def __init__(self, net: nn.Module, cfg: TrainConfig, input_shape: tuple[int, ...]) -> None:
        self.net, self.cfg = net, cfg
        self.loss: nn.Module = CrossEntropy(net)
        self.attack: PGD | None = None  # the attack that makes the batch's adversarial examples

    @staticmethod
    def prepare(model: nn.Module) -> None:
        """Change the network in place before training starts (nothing by default)."""

    @property
    def extra(self) -> nn.Module | None:
        """Trainable parts besides the network (saved in the resume state), or None."""
        return None

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
        """The batch's random attack start (None without one), drawn before the step so that
        the step itself is deterministic and can be captured as a CUDA graph."""
        return None if self.attack is None else self.attack.draw(x, generator)

    def adversarial(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor | None:
        """The batch's adversarial examples from the random ``start`` of :meth:`draw`, or None
        for a method without an attack."""
        return None

    def start_epoch(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Called before every epoch with the bare network and the uint8 training set."""

    def finish(self, model: nn.Module) -> None:
        """Turn the trained network, in place, into the one that is saved (nothing by default)."""

    @classmethod
    def final_head(
        cls,
        model: Classifier,
        cfg: TrainConfig,
        train_set: tuple[torch.Tensor, torch.Tensor],
        num_classes: int,
        head_probe: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Give the network its classifier after training; returns metadata saved with the
        model. A supervised method trained its head already."""
        return {}


class Standard(Method):
    """Empirical risk minimisation on clean images (ε = 0)."""


class PGDTraining(Method):
    """Cross-entropy on k-step PGD examples within ε (Madry et al.)."""

    def __init__(self, net: nn.Module, cfg: TrainConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__(net, cfg, input_shape)
        self.attack = training_attack(net, cfg, cfg.attack_steps)

    def adversarial(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor:
        return self.attack(x, y, start=start)
