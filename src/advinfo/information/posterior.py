"""Information in the weights (the paper's Def. 0.5, Fig. 4): a diagonal Gaussian posterior
N(w, Σ) around trained weights w, the widest one whose noise the training loss tolerates:

    minimise  KL(N(w, Σ) || N(0, λ² I)) / P    subject to    E_n[L(w + n)] − L(w) ≤ δ,

n ~ N(0, Σ) by the reparameterisation trick, P the number of weights, L the mean training
cross-entropy. Why a constraint rather than Task2Vec's fixed β on a summed KL: the right β
shrinks with the parameter count, so a β tuned on a small network lets the KL outweigh the
data term of a ResNet-18 (its noisy loss ran from 3 to 533 nats); a tolerance δ in nats means
the same thing for every architecture, and every model is measured at the same loss increase.
Only the log-variances are learned, one per filter as in Task2Vec's code (see
:func:`filter_shape`); the mean stays at w. Weights the loss does not need drift to the prior's
variance λ²; weights it needs keep a small variance: the mean log-variance measures how much
information the weights hold.

The constraint is enforced by its Lagrange multiplier μ (GECO, Rezende & Viola 2018), set in
log space by a PI controller on a moving average of the loss excess: the integral finds μ, the
proportional term damps the oscillation that integral action alone sustains against variances
that respond over dozens of batches. Adam descends (KL/P + μ·excess) / (1 + μ), which has the
Lagrangian's minimiser but gradients of one scale whatever μ is: unnormalised, the μ of 10⁵ a
violation brings inflates Adam's second moments, and the variances froze for epochs once μ fell
again. The posterior kept is the log-variances averaged over the last epoch, and each epoch's
mean log-variance is that average: Adam's steps leave a filter's log-variance jittering by its
learning rate.

The fit stops when it has converged (:func:`settled`): in two epochs in a row the mean
log-variance moved by less than ``tol`` and the loss excess was within ``excess_tol``·δ of δ
(the constraint binds) or below δ with μ at its floor (slack: the prior holds the variances),
or when ``max_epochs`` ran out, and it says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import h5py
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from advinfo.convergence import Convergence
from advinfo.errors import DivergenceError
from advinfo.fileio import atomic_path
from advinfo.plan.schema import FromSchema

RUNAWAY = 10.0  # an epoch whose mean loss excess exceeds RUNAWAY·δ has diverged
# The multiplier starts at 1/(2δ): in the Laplace approximation (loss excess Σ σᵢ² Hᵢᵢ / 2, KL per
# weight), the optimum has σᵢ² = 1/(λ P Hᵢᵢ) and an excess of 1/(2λ) whatever the architecture.
# It stays between 1/MULTIPLIER_FLOOR and MULTIPLIER_CEILING times that: low enough that the KL
# leads where the constraint is slack (at the floor the Laplace optimum's excess is 10 δ), high
# enough that the excess leads where it is violated; the bounds also stop the integral winding up.
MULTIPLIER_FLOOR = 10.0
MULTIPLIER_CEILING = 100.0
PROPORTIONAL_GAIN = 5.0  # log μ per δ of violation, beside the integral's multiplier_lr per batch
VIOLATION_CAP = RUNAWAY  # the largest violation, in δ, the controller acts on
EXCESS_MOMENTUM = 0.7  # of the moving average of the loss excess that drives the controller
CONFIRM = 2  # epochs in a row that must meet the convergence rule


@dataclass(frozen=True)
class PosteriorConfig(FromSchema):
    """Hyperparameters of the posterior fit (``from_schema``: information.posterior's defaults)."""

    SECTION: ClassVar[str] = "information.posterior"

    max_epochs: int
    batch_size: int
    lr: float  # Adam on the log-variances
    delta: float  # tolerated rise of the training cross-entropy under the noise, nats
    prior_std: float  # λ
    init_logvar: float  # log σ² at the start (nearly the trained weights)
    multiplier_lr: float  # integral gain: log μ per batch, per δ of violation
    tol: float  # converged: the mean log-variance moved by less than this over the last epoch ...
    excess_tol: float  # ... and the epoch's loss excess is within excess_tol·δ of δ, or below δ
    seed: int = 0


def filter_shape(weight: torch.Tensor) -> tuple[int, ...]:
    """The shape of a weight's log-variance: one per output filter (row) of a matrix or a
    convolution, one per entry of a vector (Task2Vec's parameterisation). A filter's weights
    share one variance, so its gradient sums over them: the per-weight gradients of a noisy
    loss are too noisy for Adam, whose normalised steps then random-walk the variances."""
    return (weight.shape[0],) + (1,) * (weight.ndim - 1)


def kl_to_prior(mean: torch.Tensor, logvar: torch.Tensor, prior_var: float) -> torch.Tensor:
    """KL(N(mean, e^logvar) || N(0, prior_var)), summed over entries."""
    return 0.5 * ((logvar.exp() + mean.pow(2)) / prior_var - 1.0 - logvar + math.log(prior_var)).sum()


@torch.no_grad()
def per_sample_loss(
    model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, correct) of every sample under the trained weights, eval mode."""
    losses, correct = [], []
    for start in range(0, len(inputs), batch_size):
        logits = model(inputs[start : start + batch_size])
        target = labels[start : start + batch_size]
        losses.append(F.cross_entropy(logits, target, reduction="none"))
        correct.append(logits.argmax(1) == target)
    return torch.cat(losses), torch.cat(correct)


def multiplier_floor(delta: float) -> float:
    """The least the multiplier may fall to: 1/(2δ) / MULTIPLIER_FLOOR."""
    return 1 / (2 * delta) / MULTIPLIER_FLOOR


def settled(history: list[dict[str, float]], cfg: PosteriorConfig) -> Convergence:
    """The convergence rule after the last epoch of ``history``: in each of the last
    :data:`CONFIRM` epochs the mean log-variance moved by less than ``cfg.tol``, and either the
    loss excess is within ``cfg.excess_tol``·δ of δ (the constraint binds) or it is below δ with
    the multiplier at its floor (slack: the prior, not the data, holds the variances). One epoch
    is not enough: an oscillation of the variances stands still for an epoch at each of its turns."""
    floor = multiplier_floor(cfg.delta) * (1 + 1e-6)

    def still(row: dict[str, float]) -> bool:
        binds = abs(row["excess"] - cfg.delta) <= cfg.excess_tol * cfg.delta
        slack = row["excess"] < cfg.delta and row["multiplier"] <= floor
        return abs(row["logvar_change"]) < cfg.tol and (binds or slack)

    recent = history[-CONFIRM:]
    return Convergence(len(recent) == CONFIRM and all(map(still, recent)), len(history), history[-1]["logvar_change"])


class Multiplier:
    """The multiplier μ of the loss constraint: a PI controller in log space on a moving average
    of the batches' loss excess (one batch's is too noisy: most near 0, a few large), bounded to
    [floor, MULTIPLIER_CEILING] with the integral clamped to the same range (no windup)."""

    def __init__(self, delta: float, integral_gain: float) -> None:
        self.delta, self.integral_gain = delta, integral_gain
        self.initial = math.log(1 / (2 * delta))
        self.integral, self.log_value = 0.0, self.initial  # log μ = initial + integral + gain · violation
        self.low, self.high = math.log(multiplier_floor(delta)) - self.initial, math.log(MULTIPLIER_CEILING)
        self.mean_excess = 0.0

    @property
    def value(self) -> float:
        return math.exp(self.log_value)

    def update(self, excess: float) -> None:
        """Follow one batch's loss excess."""
        self.mean_excess = EXCESS_MOMENTUM * self.mean_excess + (1 - EXCESS_MOMENTUM) * excess
        violation = (self.mean_excess - self.delta) / self.delta
        violation = max(-1.0, min(VIOLATION_CAP, violation))
        self.integral = min(self.high, max(self.low, self.integral + self.integral_gain * violation))
        self.log_value = min(self.high, max(self.low, self.integral + PROPORTIONAL_GAIN * violation)) + self.initial


def noisy_weights(
    weights: dict[str, torch.Tensor], per_filter: dict[str, torch.Tensor], generator: torch.Generator
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(log-variance of every weight, one draw of the weights under it)."""
    logvar = {k: v.expand_as(weights[k]) for k, v in per_filter.items()}
    noisy = {
        k: w + (0.5 * logvar[k]).exp() * torch.randn(w.shape, generator=generator, device=w.device)
        for k, w in weights.items()
    }
    return logvar, noisy


def _epoch_row(
    epoch: int,
    means: dict[str, float],
    averaged: dict[str, torch.Tensor],
    weights: dict[str, torch.Tensor],
    multiplier: Multiplier,
    previous_logvar: float,
) -> dict[str, float]:
    """One epoch's history row from its per-image means and its epoch-averaged log-variances."""
    n_weights = sum(w.numel() for w in weights.values())
    mean_logvar = float(sum(v.expand_as(weights[k]).sum() for k, v in averaged.items()) / n_weights)
    return {
        "epoch": epoch + 1,
        **means,
        "excess": means["ce"] - means["ce_clean"],
        "multiplier": multiplier.value,
        "mean_logvar": mean_logvar,
        "logvar_change": mean_logvar - previous_logvar,
    }


def _check_runaway(row: dict[str, float], cfg: PosteriorConfig) -> None:
    if row["excess"] > RUNAWAY * cfg.delta:
        raise DivergenceError(
            f"the weight posterior diverged at epoch {row['epoch']}: the noisy training loss is "
            f"{row['ce']:.3g} nats against {row['ce_clean']:.3g} clean, more than {RUNAWAY:g} x "
            f"information.posterior.delta ({cfg.delta}) above it; lower information.posterior.lr "
            f"(now {cfg.lr}) or information.posterior.init_logvar (now {cfg.init_logvar})"
        )


def fit_posterior(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    cfg: PosteriorConfig,
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]], Convergence]:
    """Log-variances of every parameter of ``model`` in the parameter's shape (one value per
    filter, eval mode: BatchNorm statistics fixed); one row per epoch of means: noisy and
    clean cross-entropy and accuracy, their excess, the KL per weight, the multiplier, the mean
    log-variance and its change over the epoch; and whether the fit converged (:func:`settled`)
    or ran out of epochs. ``inputs`` are what the model takes. Raises DivergenceError when the
    loss is non-finite or its excess runs away."""
    model.eval()
    weights = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b for name, b in model.named_buffers()}
    n_weights = sum(w.numel() for w in weights.values())
    per_filter = {
        name: torch.full(filter_shape(w), cfg.init_logvar, device=w.device, requires_grad=True)
        for name, w in weights.items()
    }
    # β₂ = 0.99: Adam forgets a gradient scale within ~100 batches, so a multiplier that falls after
    # a violation does not leave steps scaled for the old one (0.999 stalled the variances for epochs)
    optimizer = torch.optim.Adam(per_filter.values(), lr=cfg.lr, betas=(0.9, 0.99))
    clean_loss, clean_correct = per_sample_loss(model, inputs, labels, cfg.batch_size)
    multiplier = Multiplier(cfg.delta, cfg.multiplier_lr)
    prior_var = cfg.prior_std**2
    n = len(inputs)
    gen = torch.Generator(device=inputs.device).manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    previous_logvar = cfg.init_logvar
    fit = Convergence(False, 0, math.inf)
    for epoch in range(cfg.max_epochs):
        order = torch.randperm(n, generator=gen, device=inputs.device)
        sums = dict.fromkeys(("ce", "acc", "ce_clean", "acc_clean", "kl_per_weight"), 0.0)
        averaged = {k: torch.zeros_like(v) for k, v in per_filter.items()}
        batches = range(0, n, cfg.batch_size)
        for start in tqdm(
            batches, desc=f"posterior epoch {epoch + 1}/{cfg.max_epochs}", disable=not progress, delay=5, leave=False
        ):
            idx = order[start : start + cfg.batch_size]
            logvar, noisy = noisy_weights(weights, per_filter, gen)
            logits = functional_call(model, (noisy, buffers), (inputs[idx],))
            ce = F.cross_entropy(logits, labels[idx])
            excess = ce - clean_loss[idx].mean()
            kl = sum(kl_to_prior(weights[k], logvar[k], prior_var) for k in weights) / n_weights
            mu = multiplier.value
            loss = (kl + mu * excess) / (1 + mu)
            if not torch.isfinite(loss):
                raise DivergenceError(
                    f"non-finite posterior loss at epoch {epoch + 1}, batch {start // cfg.batch_size + 1}; "
                    f"lower information.posterior.lr (now {cfg.lr})"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                for k, v in per_filter.items():
                    averaged[k] += v / len(batches)
            multiplier.update(excess.item())
            for key, value in (
                ("ce", ce.item()),
                ("acc", (logits.argmax(1) == labels[idx]).float().mean().item()),
                ("ce_clean", clean_loss[idx].mean().item()),
                ("acc_clean", clean_correct[idx].float().mean().item()),
                ("kl_per_weight", kl.item()),
            ):
                sums[key] += value * len(idx)
        row = _epoch_row(epoch, {k: v / n for k, v in sums.items()}, averaged, weights, multiplier, previous_logvar)
        previous_logvar = row["mean_logvar"]
        history.append(row)
        _check_runaway(row, cfg)
        fit = settled(history, cfg)
        if fit.converged:
            break
    return {k: v.expand_as(weights[k]).clone() for k, v in averaged.items()}, history, fit


def layer_summary(logvar: dict[str, torch.Tensor]) -> list[dict[str, float | str | int]]:
    """Per parameter tensor: its size and mean log-variance; plus an "all" row weighted by size."""
    rows = [{"layer": k, "numel": v.numel(), "mean_logvar": float(v.mean())} for k, v in logvar.items()]
    total = sum(r["numel"] for r in rows)
    overall = sum(r["mean_logvar"] * r["numel"] for r in rows) / total
    return rows + [{"layer": "all", "numel": total, "mean_logvar": overall}]


def save_posterior(logvar: dict[str, torch.Tensor], attrs: dict[str, object], path: str | Path) -> None:
    """Log-variances as one HDF5 dataset per parameter (group ``logvar``), so later stages can
    sample the effective noise n ~ N(0, Σ*); written atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs.update(attrs)
        group = fh.create_group("logvar")
        for name, value in logvar.items():
            group.create_dataset(name, data=value.cpu().numpy())


def load_posterior(path: str | Path) -> dict[str, torch.Tensor]:
    """The log-variances of :func:`save_posterior`; a missing or broken file raises naming it."""
    try:
        with h5py.File(path, "r") as fh:
            return {name: torch.from_numpy(ds[()]) for name, ds in fh["logvar"].items()}
    except (OSError, KeyError) as err:
        raise ValueError(f"{path} is missing, truncated or not a weight-posterior file ({err})") from err
