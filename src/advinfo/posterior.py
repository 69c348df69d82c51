"""Information in the weights (the paper's Def. 0.5, Fig. 4): a diagonal Gaussian posterior
N(w, Σ) around trained weights w, the widest one whose noise the training loss tolerates:

    minimise  KL(N(w, Σ) || N(0, λ² I)) / P    subject to    E_n[L(w + n)] − L(w) ≤ δ,

n ~ N(0, Σ) by the reparameterisation trick, P the number of weights, L the mean training
cross-entropy. The constraint is enforced by its Lagrange multiplier, learned by dual ascent
in log space (GECO, Rezende & Viola 2018). Why a constraint rather than Task2Vec's fixed β
on a summed KL: the right β shrinks with the parameter count, so a β tuned on a small
network lets the KL outweigh the data term of a ResNet-18 (its noisy loss ran from 3 to 533
nats); a tolerance δ in nats means the same thing for every architecture, and every model is
measured at the same loss increase. Only the log-variances are learned, one per filter as in
Task2Vec's code (see :func:`filter_shape`); the mean stays at w.
Weights the loss does not need drift to the prior's variance λ²; weights it needs keep a
small variance: the mean log-variance measures how much information the weights hold.
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

from advinfo.errors import DivergenceError
from advinfo.fileio import atomic_path
from advinfo.schema import FromSchema

RUNAWAY = 10.0  # an epoch whose mean loss excess exceeds RUNAWAY·δ has diverged
# The multiplier starts at 1/(2δ): in the Laplace approximation (loss excess Σ σᵢ² Hᵢᵢ / 2, KL per
# weight), the optimum has σᵢ² = 1/(λ P Hᵢᵢ) and an excess of 1/(2λ) whatever the architecture.
# It may fall by at most MULTIPLIER_RANGE below that, so the slack while the variances grow
# from init_logvar cannot drive it to 0 (which lets the variances run past the constraint).
MULTIPLIER_RANGE = 4.0
EXCESS_MOMENTUM = 0.9  # of the moving average of the loss excess that drives the dual ascent


@dataclass(frozen=True)
class PosteriorConfig(FromSchema):
    """Hyperparameters of the posterior fit (``from_schema``: information.posterior's defaults)."""

    SECTION: ClassVar[str] = "information.posterior"

    epochs: int
    batch_size: int
    lr: float  # Adam on the log-variances
    delta: float  # tolerated rise of the training cross-entropy under the noise, nats
    prior_std: float  # λ
    init_logvar: float  # log σ² at the start (nearly the trained weights)
    multiplier_lr: float  # dual-ascent step of log(multiplier) per batch, per δ of violation
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


def fit_posterior(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    cfg: PosteriorConfig,
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """Log-variances of every parameter of ``model`` in the parameter's shape (one value per
    filter, eval mode: BatchNorm statistics fixed), and one row per epoch of means: noisy and
    clean cross-entropy and accuracy, their excess, the KL per weight, the multiplier and the
    mean log-variance. ``inputs`` are what the model takes. Raises DivergenceError when the
    loss is non-finite or its excess runs away."""
    model.eval()
    weights = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b for name, b in model.named_buffers()}
    n_weights = sum(w.numel() for w in weights.values())
    per_filter = {
        name: torch.full(filter_shape(w), cfg.init_logvar, device=w.device, requires_grad=True)
        for name, w in weights.items()
    }
    optimizer = torch.optim.Adam(per_filter.values(), lr=cfg.lr)
    clean_loss, clean_correct = per_sample_loss(model, inputs, labels, cfg.batch_size)
    log_multiplier = math.log(1 / (2 * cfg.delta))
    floor = log_multiplier - math.log(MULTIPLIER_RANGE)
    mean_excess = 0.0  # moving average: one batch's excess is too noisy (most near 0, a few large)
    prior_var = cfg.prior_std**2
    n = len(inputs)
    gen = torch.Generator(device=inputs.device).manual_seed(cfg.seed)
    history = []
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=gen, device=inputs.device)
        sums = dict.fromkeys(("ce", "acc", "ce_clean", "acc_clean", "kl_per_weight"), 0.0)
        batches = range(0, n, cfg.batch_size)
        for start in tqdm(
            batches, desc=f"posterior epoch {epoch + 1}/{cfg.epochs}", disable=not progress, delay=5, leave=False
        ):
            idx = order[start : start + cfg.batch_size]
            logvar = {k: v.expand_as(weights[k]) for k, v in per_filter.items()}
            noisy = {
                k: w + (0.5 * logvar[k]).exp() * torch.randn(w.shape, generator=gen, device=w.device)
                for k, w in weights.items()
            }
            logits = functional_call(model, (noisy, buffers), (inputs[idx],))
            ce = F.cross_entropy(logits, labels[idx])
            excess = ce - clean_loss[idx].mean()
            kl = sum(kl_to_prior(weights[k], logvar[k], prior_var) for k in weights) / n_weights
            loss = kl + math.exp(log_multiplier) * excess
            if not torch.isfinite(loss):
                raise DivergenceError(
                    f"non-finite posterior loss at epoch {epoch + 1}, batch {start // cfg.batch_size + 1}; "
                    f"lower information.posterior.lr (now {cfg.lr})"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            mean_excess = EXCESS_MOMENTUM * mean_excess + (1 - EXCESS_MOMENTUM) * excess.item()
            violation = (mean_excess - cfg.delta) / cfg.delta
            log_multiplier = max(floor, log_multiplier + cfg.multiplier_lr * max(-1.0, min(1.0, violation)))
            for key, value in (
                ("ce", ce.item()),
                ("acc", (logits.argmax(1) == labels[idx]).float().mean().item()),
                ("ce_clean", clean_loss[idx].mean().item()),
                ("acc_clean", clean_correct[idx].float().mean().item()),
                ("kl_per_weight", kl.item()),
            ):
                sums[key] += value * len(idx)
        row = {"epoch": epoch + 1, **{k: v / n for k, v in sums.items()}}
        row.update(
            excess=row["ce"] - row["ce_clean"],
            multiplier=math.exp(log_multiplier),
            mean_logvar=float(sum(v.detach().expand_as(weights[k]).sum() for k, v in per_filter.items()) / n_weights),
        )
        history.append(row)
        if row["excess"] > RUNAWAY * cfg.delta:
            raise DivergenceError(
                f"the weight posterior diverged at epoch {epoch + 1}: the noisy training loss is "
                f"{row['ce']:.3g} nats against {row['ce_clean']:.3g} clean, more than {RUNAWAY:g} x "
                f"information.posterior.delta ({cfg.delta}) above it; lower information.posterior.lr "
                f"(now {cfg.lr}) or information.posterior.init_logvar (now {cfg.init_logvar})"
            )
    return {k: v.detach().expand_as(weights[k]).clone() for k, v in per_filter.items()}, history


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
