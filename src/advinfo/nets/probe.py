"""Linear probes: multinomial logistic regression on frozen features, fitted full-batch with
L-BFGS in torch (on the GPU when the features are there).

Written on torch rather than scikit-learn because the same code then runs on the GPU, and
because the fitted head must become an ``nn.Linear`` that PGD can attack through the
whole network. The objective is mean cross-entropy + l2/2 * ||W||^2 (bias unpenalised),
which is scikit-learn's ``LogisticRegression(C=1 / (l2 * n))``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advinfo.errors import DivergenceError
from advinfo.fileio import load_tensors, save_tensors
from advinfo.sampling import stratified_indices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinearProbe:
    """A fitted probe: logits = ((z - mean) / scale) @ weight.T + bias."""

    weight: torch.Tensor  # (classes, dim)
    bias: torch.Tensor  # (classes,)
    mean: torch.Tensor  # (dim,)
    scale: torch.Tensor  # (dim,)
    l2: float

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        return ((z - self.mean) / self.scale) @ self.weight.T + self.bias

    def accuracy(self, z: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy in %."""
        with torch.no_grad():
            return 100.0 * int((self.logits(z).argmax(1) == y).sum()) / len(y)

    def as_linear(self) -> nn.Linear:
        """The probe as one ``nn.Linear`` on raw features (standardisation folded in)."""
        w = self.weight / self.scale
        head = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            head.weight.copy_(w)
            head.bias.copy_(self.bias - w @ self.mean)
        return head


def save_probe(probe: LinearProbe, path: str | Path) -> None:
    """Write the probe's tensors atomically (loadable with ``weights_only=True``)."""
    save_tensors({k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in asdict(probe).items()}, path)


def load_probe(path: str | Path) -> LinearProbe:
    """Read a probe written by :func:`save_probe`; anything else raises naming the file."""
    state = load_tensors(path)
    names = [f.name for f in fields(LinearProbe)]
    if not isinstance(state, dict) or sorted(state) != sorted(names):
        raise ValueError(f"{path} is not a linear-probe file (expected keys {names})")
    return LinearProbe(**state)


@dataclass(frozen=True)
class ProbeFit:
    """The refitted probe and the validation accuracy (%) of every penalty tried."""

    probe: LinearProbe
    val_accuracy: dict[float, float]
    iterations: int


def sklearn_c(l2: float, n: int) -> float:
    """scikit-learn's C for the same objective as penalty ``l2`` on ``n`` samples."""
    return 1.0 / (l2 * n)


def standardizer(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and scale; constant features (dead ReLUs) get scale 1."""
    mean, std = z.mean(0), z.std(0)
    return mean, torch.where(std > 1e-6, std, torch.ones_like(std))


def fit_logistic(
    z: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    l2: float,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(weight, bias, iterations) minimising mean CE + l2/2 ||W||^2 by full-batch L-BFGS.

    Stops when the largest gradient entry is below ``tol`` or after ``max_iter`` iterations.
    """
    dim = z.shape[1]
    if init is None:
        w = torch.zeros(num_classes, dim, device=z.device, dtype=z.dtype)
        b = torch.zeros(num_classes, device=z.device, dtype=z.dtype)
    else:
        w, b = (t.detach().clone() for t in init)
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=tol,
        tolerance_change=1e-10,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z @ w.T + b, y) + 0.5 * l2 * w.pow(2).sum()
        if not torch.isfinite(loss):
            raise DivergenceError(f"non-finite probe loss ({loss.item()}) at penalty l2={l2}")
        loss.backward()
        return loss

    opt.step(closure)
    iterations = int(opt.state[w].get("n_iter", 0))
    return w.detach(), b.detach(), iterations


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) indices of labels ``y``: ceil(fraction * n) held out, each class in
    proportion to its share (sampling.stratified_indices, as scikit-learn's stratified
    train_test_split does, without its import: a second of every probing job). Both parts hold
    every class, or it raises."""
    classes, counts = np.unique(y, return_counts=True)
    n_val = math.ceil(fraction * len(y))
    if counts.min() < 2 or n_val < len(classes) or len(y) - n_val < len(classes):
        raise ValueError(
            f"a stratified validation split of {fraction:g} of {len(y)} labels cannot hold every one of their "
            f"{len(classes)} classes on both sides (the smallest class has {counts.min()})"
        )
    val = np.sort(stratified_indices(y, n_val, seed))
    fit = np.setdiff1d(np.arange(len(y)), val)
    for part in (fit, val):
        if len(np.unique(y[part])) < len(classes):
            raise ValueError(f"a stratified validation split of {fraction:g} of {len(y)} labels leaves a class out")
    return fit, val


def fit_probe(
    z: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    penalties: Sequence[float],
    val_fraction: float = 0.2,
    seed: int = 0,
    max_iter: int = 500,
    tol: float = 1e-6,
) -> ProbeFit:
    """Choose the penalty by accuracy on a stratified validation split of (z, y), then refit
    on all of it. Penalties run from strongest to weakest, each warm-started from the last;
    ties go to the stronger penalty. Standardisation uses all of (z, y)'s features (no labels)."""
    if not penalties:
        raise ValueError("at least one penalty is needed")
    mean, scale = standardizer(z)
    zs = (z - mean) / scale
    fit_idx, val_idx = (
        torch.as_tensor(i, device=z.device) for i in validation_split(y.cpu().numpy(), val_fraction, seed)
    )
    scores: dict[float, float] = {}
    solutions = {}
    init = None
    for l2 in sorted(map(float, penalties), reverse=True):
        w, b, n_iter = fit_logistic(zs[fit_idx], y[fit_idx], num_classes, l2, init, max_iter, tol)
        init = solutions[l2] = (w, b)
        with torch.no_grad():
            scores[l2] = 100.0 * int(((zs[val_idx] @ w.T + b).argmax(1) == y[val_idx]).sum()) / len(val_idx)
        log.info("probe l2=%g: validation accuracy %.2f%% after %d L-BFGS iterations", l2, scores[l2], n_iter)
    best = max(scores, key=lambda l2: (scores[l2], l2))
    w, b, n_iter = fit_logistic(zs, y, num_classes, best, solutions[best], max_iter, tol)
    probe = LinearProbe(w, b, mean, scale, best)
    return ProbeFit(probe, scores, n_iter)
