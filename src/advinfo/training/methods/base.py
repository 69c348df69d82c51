"""What a training method is: the base class every method in this package subclasses, the
cross-entropy loss and the PGD attack that most of them share.

A method owns everything in which methods differ: how the network is changed before training
(:meth:`Method.prepare`), the attack that makes a batch's adversarial examples, the loss module
(with any trainable parts of its own, which the optimiser, data parallelism and the resume state
then see), a hook at the start of every epoch, what happens to the network after training
(:meth:`Method.finish`) and its final head. The trainer calls these and never asks which method
it runs. Adding a method: a file in this package with a subclass that sets :attr:`Method.name`
(and :attr:`Method.needs_labels` and :attr:`Method.hyperparameters` where they differ), and its
schema keys: the name in ``pretrain.methods``'s enum, each hyperparameter as ``pretrain.<name>_*``
(which reach it as ``cfg.options``).
The registry (``advinfo.training.methods.METHODS``), the plan's view of the methods
(:mod:`advinfo.plan.methods`) and the code dependencies find the file themselves.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from advinfo.nets.models import Classifier
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.robust.attacks import PGD


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
    """Cross-entropy on clean images, no attack (what standard training is).

    ``net`` is the network as the step runs it (compiled or not); ``loss`` is the module the
    optimiser trains (the network's parameters and the method's own) and data parallelism wraps:
    ``loss(x, x_adv, y)`` gives (loss, logits whose accuracy is reported, or None).
    """

    # Read by advinfo.plan.methods from the source, without importing it: literals only.
    name: ClassVar[str]  # the method's name in pretrain.methods (and model paths)
    needs_labels: ClassVar[bool] = True  # False: it learns without labels; a linear probe is its head
    hyperparameters: ClassVar[tuple[str, ...]] = ()  # the pretrain keys only this method reads
    # Those of its hyperparameters that name a residual stage (negative: from the last), which the
    # config checks hold to every architecture's stages before any job runs.
    stage_hyperparameters: ClassVar[tuple[str, ...]] = ()

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
