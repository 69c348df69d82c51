"""AR-AT (Waseda et al., ICLR 2025; seed 003): adversarial training with an asymmetric
invariance regulariser, following the official code's recipe.

loss = w_adv·CE(f(x_adv)) + (1 − w_adv)·CE(f(x)) + α·(1 − cos(predictor(h_adv), stopgrad(h_clean)))

- w_adv is the clean accuracy on training images at the start of the epoch (measured with the
  clean BatchNorm branch in eval mode), so the adversarial term gains weight as the network
  learns;
- h is the globally pooled output of one residual stage (the last by default);
- the predictor is Linear-BN-ReLU-Linear with a hidden width of a quarter of h's;
- every BatchNorm is split in two, with separate affine parameters and statistics: clean
  inputs go through one branch, adversarial ones (and attacks) through the other. The
  adversarial branch is the one kept for evaluation (``merge_adversarial``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from advinfo.nets.models import Classifier
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.robust.accuracy import accuracy
from advinfo.sampling import stratified_indices
from advinfo.training.methods.base import Method, training_attack

BRANCHES = ("clean", "adv")
ACCURACY_IMAGES = 1000  # training images whose clean accuracy weighs the two cross-entropies


class SplitBatchNorm(nn.Module):
    """Two BatchNorms of one layer (clean and adversarial), each with its own affine
    parameters and running statistics; ``branch`` says which one normalises."""

    def __init__(self, bn: _BatchNorm) -> None:
        super().__init__()
        self.clean = bn
        self.adv = copy.deepcopy(bn)
        self.branch = "adv"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clean(x) if self.branch == "clean" else self.adv(x)


def split_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm of ``model`` in place by a ``SplitBatchNorm`` started from it."""
    for name, child in model.named_children():
        if isinstance(child, _BatchNorm):
            setattr(model, name, SplitBatchNorm(child))
        else:
            split_batchnorm(child)
    return model


def merge_adversarial(model: nn.Module) -> nn.Module:
    """Replace every ``SplitBatchNorm`` in place by its adversarial branch: the plain network
    that is evaluated and saved (its state dict has the ordinary BatchNorm keys)."""
    for name, child in model.named_children():
        if isinstance(child, SplitBatchNorm):
            setattr(model, name, child.adv)
        else:
            merge_adversarial(child)
    return model


@contextmanager
def bn_branch(model: nn.Module, branch: str) -> Iterator[None]:
    """Normalise with ``branch`` inside the block; the adversarial branch again after it."""
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    splits = [m for m in model.modules() if isinstance(m, SplitBatchNorm)]
    for m in splits:
        m.branch = branch
    try:
        yield
    finally:
        for m in splits:
            m.branch = "adv"


def predictor(dim: int, ratio: float = 0.25) -> nn.Sequential:
    """SimSiam's bottleneck predictor, Linear-BN-ReLU-Linear, hidden width ``ratio``·dim."""
    hidden = max(1, int(dim * ratio))
    return nn.Sequential(
        nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, dim)
    )


def invariance_loss(p_adv: torch.Tensor, h_clean: torch.Tensor) -> torch.Tensor:
    """1 − mean cosine similarity between the predicted adversarial features and the clean
    ones, through which no gradient flows (the asymmetric, stop-gradient direction)."""
    return 1 - F.cosine_similarity(p_adv, h_clean.detach(), dim=-1).mean()


class ARATLoss(nn.Module):
    """AR-AT's training loss of a batch and its adversarial examples; holds the predictor so
    that the optimiser, data parallelism and the resume state all see its parameters."""

    def __init__(self, model: Classifier, alpha: float, layer: int, ratio: float = 0.25) -> None:
        super().__init__()
        self.model = model
        self.predictor = predictor(model.stage_channels(layer), ratio)
        self.alpha, self.layer = alpha, layer
        # (w_adv, 1 - w_adv), set by ARAT.start_epoch from the clean training accuracy: a tensor
        # filled in place, so that a captured step (advinfo.graphed) reads each epoch's value
        self.register_buffer("ce_weights", torch.tensor([0.0, 1.0]), persistent=False)

    def set_w_adv(self, w_adv: float) -> None:
        """Weigh the adversarial cross-entropy by ``w_adv`` and the clean one by 1 − w_adv."""
        self.ce_weights.copy_(torch.tensor([w_adv, 1 - w_adv]))

    def forward(self, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, adversarial logits)."""
        with bn_branch(self.model, "clean"):
            logits_clean, h_clean = self.model.logits_and_hidden(x, self.layer)
        logits_adv, h_adv = self.model.logits_and_hidden(x_adv, self.layer)
        w_adv, w_clean = self.ce_weights
        ce = w_adv * F.cross_entropy(logits_adv, y) + w_clean * F.cross_entropy(logits_clean, y)
        return ce + self.alpha * invariance_loss(self.predictor(h_adv), h_clean), logits_adv


def weight_images(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Indices of the training images whose clean accuracy weighs the two cross-entropies:
    ACCURACY_IMAGES of them, drawn by class (a prefix of a class-sorted dataset is one class)."""
    return torch.from_numpy(stratified_indices(labels.cpu().numpy(), ACCURACY_IMAGES, seed)).to(labels.device)


class ARAT(Method):
    """AR-AT: split BatchNorm while training, the adversarial branch kept after it; the
    reported accuracy is the adversarial one."""

    name = "arat"
    hyperparameters = ("arat_alpha", "arat_layer")
    stage_hyperparameters = ("arat_layer",)

    def __init__(self, net: nn.Module, cfg: TrainConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__(net, cfg, input_shape)
        self.loss = ARATLoss(net, cfg.options["arat_alpha"], cfg.options["arat_layer"])
        self.attack = training_attack(net, cfg, cfg.attack_steps)

    @staticmethod
    def prepare(model: nn.Module) -> None:
        split_batchnorm(model)

    @property
    def extra(self) -> nn.Module:
        return self.loss.predictor

    def adversarial(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor:
        return self.attack(x, y, start=start)

    def start_epoch(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> None:
        """w_adv: the clean branch's accuracy (eval mode) on ACCURACY_IMAGES training images."""
        keep = weight_images(labels, self.cfg.seed)
        with bn_branch(model, "clean"):
            self.loss.set_w_adv(accuracy(model, images[keep], labels[keep]) / 100)

    def finish(self, model: nn.Module) -> None:
        merge_adversarial(model)
