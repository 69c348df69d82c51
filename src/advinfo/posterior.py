"""Information in the weights (the paper's Def. 0.5, Fig. 4): a diagonal Gaussian posterior
N(w, Σ) around trained weights w, fitted by minimising

    E_n[L(w + n)] + β · KL(N(w, Σ) || N(0, λ² I)),    n ~ N(0, Σ),

with the reparameterisation trick; L is the mean cross-entropy of a batch and β weighs the
summed KL as in Task2Vec's variational code (β = 1/N would be the evidence lower bound of N
images, whose prior pressure destroys a small network: the noisy loss rises to chance). Only the log-variances are learned, the mean stays at
w (as Task2Vec's variational code does). Weights the loss does not need drift to the prior's
variance λ²; weights it needs keep a small variance: the mean log-variance is a measure of
how much information the weights hold about the training set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from tqdm import tqdm

from advinfo.errors import DivergenceError
from advinfo.fileio import atomic_path


@dataclass(frozen=True)
class PosteriorConfig:
    """Hyperparameters of the posterior fit (Task2Vec's variational recipe, scaled per image)."""

    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.1  # Adam on the log-variances
    beta: float = 1e-5  # weight of the summed KL
    prior_std: float = 0.1  # λ
    init_logvar: float = -8.0  # log σ² at the start (nearly the trained weights)
    seed: int = 0


def kl_to_prior(mean: torch.Tensor, logvar: torch.Tensor, prior_var: float) -> torch.Tensor:
    """KL(N(mean, e^logvar) || N(0, prior_var)), summed over entries."""
    return 0.5 * ((logvar.exp() + mean.pow(2)) / prior_var - 1.0 - logvar + math.log(prior_var)).sum()


def fit_posterior(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    cfg: PosteriorConfig,
    progress: bool = True,
) -> tuple[dict[str, torch.Tensor], list[dict[str, float]]]:
    """Log-variances of every parameter of ``model`` (eval mode: BatchNorm statistics fixed),
    and one row of mean loss terms per epoch. ``inputs`` are what the model takes."""
    model.eval()
    weights = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b for name, b in model.named_buffers()}
    logvar = {name: torch.full_like(w, cfg.init_logvar, requires_grad=True) for name, w in weights.items()}
    optimizer = torch.optim.Adam(logvar.values(), lr=cfg.lr)
    prior_var = cfg.prior_std**2
    n = len(inputs)
    gen = torch.Generator(device=inputs.device).manual_seed(cfg.seed)
    history = []
    for epoch in range(cfg.epochs):
        order = torch.randperm(n, generator=gen, device=inputs.device)
        sums = {"ce": 0.0, "kl": 0.0}
        batches = range(0, n, cfg.batch_size)
        for start in tqdm(batches, desc=f"posterior epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
                          delay=5, leave=False):  # fmt: skip
            idx = order[start : start + cfg.batch_size]
            noisy = {k: w + (0.5 * logvar[k]).exp() * torch.randn(w.shape, generator=gen, device=w.device)
                     for k, w in weights.items()}  # fmt: skip
            ce = F.cross_entropy(functional_call(model, (noisy, buffers), (inputs[idx],)), labels[idx])
            kl = sum(kl_to_prior(weights[k], logvar[k], prior_var) for k in weights)
            loss = ce + cfg.beta * kl
            if not torch.isfinite(loss):
                raise DivergenceError(f"non-finite posterior loss at epoch {epoch + 1}, batch {start // cfg.batch_size + 1}; "
                                      f"lower information.posterior.lr (now {cfg.lr})")  # fmt: skip
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            sums["ce"] += ce.item() * len(idx)
            sums["kl"] += kl.item() * len(idx)
        history.append({"epoch": epoch + 1, **{k: v / n for k, v in sums.items()}})
    return {k: v.detach() for k, v in logvar.items()}, history


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
