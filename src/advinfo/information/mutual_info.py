"""Mutual information between inputs and representations, and its worst case under bounded
perturbations (Zhu et al. 2020, "Learning adversarially robust representations via
worst-case mutual information maximization"; seed 002).

The critic T(x, z) = g(x)·h(z) is separable, so one batch of n pairs scores all n² pairings
with 2n network passes: the n matched pairs are samples of the joint p(x, z), the n(n − 1)
others of the product of marginals. It is trained on the Jensen–Shannon objective
(Deep InfoMax), whose optimum is T* = log p(x, z) / (p(x) p(z)); at that optimum the
Donsker–Varadhan bound E_p[T] − log E_{p⊗p}[e^T] equals I(X; Z), so the trained critic is
read out with that bound, in nats, on pairs it was not trained on. The estimate is
cross-fitted: the pairs are split into folds, each fold is read by a critic fitted on the
others, and the folds' spread gives a 95 % t-interval. A lower bound may take the best of
any critics, and the constant critic's bound is 0, so each fold's value is at least 0.

The representation vulnerability of an encoder f at radius ε is I(X; f(X)) − I(X'; f(X'))
with X' = X + δ(X) the perturbation within ε that minimises the estimated information,
found by PGD on the critic's objective.

Each critic stops once its held-out objective has levelled off (risen by less than ``tol`` nats
over ``patience`` checks) or its steps run out, and the estimate says which (:func:`fit_critic`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from advinfo.convergence import Convergence
from advinfo.plan.schema import FromSchema
from advinfo.robust.attacks import PGD


class SeparableCritic(nn.Module):
    """T(x, z) = g(x)·h(z) with one-hidden-layer MLPs g (on flattened x) and h."""

    def __init__(self, x_dim: int, z_dim: int, hidden: int = 256, embed: int = 64) -> None:
        super().__init__()
        self.g = nn.Sequential(nn.Flatten(), nn.Linear(x_dim, hidden), nn.ReLU(), nn.Linear(hidden, embed))
        self.h = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, embed))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Scores of every pairing, (n, n): entry (i, j) is T(x_i, z_j)."""
        return self.g(x) @ self.h(z).T


def _off_diagonal(scores: torch.Tensor) -> torch.Tensor:
    """The (n, n − 1) off-diagonal entries of the n × n ``scores``, row by row: the flat matrix
    without its first entry, in rows of n + 1, starts each row at an off-diagonal entry and ends
    it at a diagonal one (a mask would read its count on the host, which no CUDA graph allows)."""
    n = scores.shape[0]
    return scores.flatten()[1:].view(n - 1, n + 1)[:, :-1].reshape(n, n - 1)


def jsd_terms(scores: torch.Tensor) -> torch.Tensor:
    """Per-sample terms of the Jensen–Shannon objective E_p[−sp(−T)] − E_{p⊗p}[sp(T)]: row i
    holds its matched pair's term minus the mean over its mismatched pairs; their mean is the
    objective (each row has the same number of mismatched pairs)."""
    if scores.shape[0] < 2:
        raise ValueError("the mutual information objective needs batches of at least 2 pairs")
    return -F.softplus(-scores.diagonal()) - F.softplus(_off_diagonal(scores)).mean(1)


def dv_estimate(scores: torch.Tensor) -> torch.Tensor:
    """E_p[T] − log E_{p⊗p}[e^T] in nats (the Donsker–Varadhan bound; unlike the NWJ bound it
    is blind to a constant offset of T, so a critic off the optimum by a shift loses nothing)."""
    off = _off_diagonal(scores).flatten()
    return scores.diagonal().mean() - (torch.logsumexp(off, 0) - math.log(off.numel()))


class PairScores(nn.Module):
    """Critic scores of (x, f(x)) for a batch of inputs x: what an attack on the mutual
    information of an encoder differentiates."""

    def __init__(self, encoder: nn.Module, critic: SeparableCritic) -> None:
        super().__init__()
        self.encoder, self.critic = encoder, critic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x, self.encoder.features(x))


def mi_attack(
    encoder: nn.Module,
    critic: SeparableCritic,
    eps: float,
    steps: int,
    norm: str = "l2",
    random_start: bool = True,
    step_size: float | None = None,
) -> PGD:
    """PGD that lowers the critic's Jensen–Shannon objective of (x', f(x')) within ε of x
    (step size 2.5·ε/steps unless given)."""
    scores = PairScores(encoder, critic).train(encoder.training)  # the attack restores this mode afterwards
    return PGD(
        scores,
        eps,
        steps=steps,
        step_size=step_size,
        norm=norm,
        random_start=random_start,
        loss_fn=lambda scores, _: -jsd_terms(scores),
    )


@dataclass(frozen=True)
class EstimatorConfig(FromSchema):
    """How the critic is trained and read out; ``from_schema`` takes the workflow's defaults
    (information.mutual_info), the critic's size is the library's."""

    SECTION: ClassVar[str] = "information.mutual_info"
    KEYS: ClassVar[dict[str, str]] = {"steps": "critic_steps", "patience": "critic_patience", "tol": "critic_tol"}

    steps: int  # the most Adam steps on random batches of the fitting pairs
    batch_size: int  # pairs per batch (each batch scores batch_size² pairings)
    lr: float
    folds: int  # cross-fitting: each fold is read by a critic fitted on the others
    patience: int  # converged: the best held-out objective rose by less than tol over this many checks
    tol: float  # nats
    seed: int = 0
    hidden: int = 256
    embed: int = 64
    check_every: int = 25  # steps between early-stopping checks


@dataclass(frozen=True)
class Estimate:
    """A cross-fitted estimate in nats: the mean over folds and its 95 % t-interval, cut at 0
    (an information is never negative), and whether every fold's critic converged."""

    value: float
    low: float
    high: float
    folds: tuple[float, ...]
    fit: Convergence

    @classmethod
    def of(cls, folds: Sequence[float], fits: Sequence[Convergence]) -> Estimate:
        from scipy.stats import t as student_t  # imported here: it costs every training job half a second

        mean = sum(folds) / len(folds)
        spread = math.sqrt(sum((v - mean) ** 2 for v in folds) / (len(folds) - 1))
        half = float(student_t.ppf(0.975, len(folds) - 1)) * spread / math.sqrt(len(folds))
        return cls(mean, max(0.0, mean - half), mean + half, tuple(folds), Convergence.all_of(fits))


def fit_critic(
    x: torch.Tensor, z: torch.Tensor, cfg: EstimatorConfig, seed: int
) -> tuple[SeparableCritic, Convergence]:
    """A critic trained by Adam on the Jensen–Shannon objective of the pairs (x_i, z_i), stopped
    early: a fifth of the pairs is held back, the critic kept is the one with the best objective
    on them (the critic otherwise learns the training pairs by heart), and training stops once
    that best has risen by less than ``cfg.tol`` over ``cfg.patience`` checks (converged) or the
    steps run out."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    torch.manual_seed(seed)
    critic = SeparableCritic(x[0].numel(), z.shape[1], cfg.hidden, cfg.embed).to(x.device)
    opt = torch.optim.Adam(critic.parameters(), lr=cfg.lr)
    n_val = max(2, len(x) // 5)
    (x_fit, x_val), (z_fit, z_val) = x.split([len(x) - n_val, n_val]), z.split([len(x) - n_val, n_val])
    batch = min(cfg.batch_size, len(x_fit))
    best, best_state = -math.inf, copy.deepcopy(critic.state_dict())
    bests: list[float] = []  # the best held-out objective after each check
    fit = Convergence(False, 0, math.inf)
    for step in range(cfg.steps):
        idx = torch.randperm(len(x_fit), generator=gen, device=x.device)[:batch]
        loss = -jsd_terms(critic(x_fit[idx], z_fit[idx])).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite critic loss at step {step + 1}; lower the critic's lr ({cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % cfg.check_every == 0 or step + 1 == cfg.steps:
            value = jsd_objective(critic, x_val, z_val, cfg.batch_size)
            if value > best:
                best, best_state = value, copy.deepcopy(critic.state_dict())
            bests.append(best)
            rise = bests[-1] - bests[-1 - cfg.patience] if len(bests) > cfg.patience else math.inf
            fit = Convergence(rise < cfg.tol, step + 1, rise)
            if fit.converged:
                break
    critic.load_state_dict(best_state)
    return critic.eval(), fit


@torch.no_grad()
def jsd_objective(critic: SeparableCritic, x: torch.Tensor, z: torch.Tensor, batch_size: int) -> float:
    """The Jensen–Shannon objective of the pairs, averaged over batches."""
    return sum(float(jsd_terms(critic(x[idx], z[idx])).sum()) for idx in batches(len(x), batch_size)) / len(x)


def batches(n: int, batch_size: int) -> list[torch.Tensor]:
    """Indices of near-equal consecutive batches of at most ``batch_size`` (so none has a
    single pair, which has no mismatched pairing)."""
    return list(torch.arange(n).tensor_split(math.ceil(n / batch_size)))


@torch.no_grad()
def estimate(critic: SeparableCritic, x: torch.Tensor, z: torch.Tensor, batch_size: int) -> float:
    """The Donsker–Varadhan estimate of I(X; Z) in nats, averaged over consecutive batches of the pairs."""
    pieces = batches(len(x), batch_size)
    values = [float(dv_estimate(critic(x[idx], z[idx]))) * len(idx) for idx in pieces]
    return sum(values) / len(x)


def cross_fitted_estimate(x: torch.Tensor, z: torch.Tensor, cfg: EstimatorConfig) -> tuple[Estimate, SeparableCritic]:
    """(the estimate over ``cfg.folds`` folds of consecutive pairs, each fold's value at least 0,
    and the critic of the first fold). The pairs should come in random order (a fixed stratified
    sample is)."""
    folds = torch.arange(len(x), device=x.device).tensor_split(cfg.folds)
    if min(len(f) for f in folds) < 2 or len(x) - max(len(f) for f in folds) < 4:
        raise ValueError(f"{len(x)} pairs are too few for {cfg.folds} folds of at least 2 pairs")
    values, critics, fits = [], [], []
    for k, held in enumerate(folds):
        keep = torch.cat([f for j, f in enumerate(folds) if j != k])
        critic, fit = fit_critic(x[keep], z[keep], cfg, cfg.seed + k)
        values.append(max(0.0, estimate(critic, x[held], z[held], cfg.batch_size)))
        critics.append(critic)
        fits.append(fit)
    return Estimate.of(values, fits), critics[0]


@torch.no_grad()
def _features(encoder: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([encoder.features(x[idx]) for idx in batches(len(x), batch_size)])


def _fields(prefix: str, est: Estimate) -> dict[str, bool | int | float | list[float]]:
    return {
        prefix: est.value,
        f"{prefix}_low": est.low,
        f"{prefix}_high": est.high,
        f"{prefix}_folds": list(est.folds),
        f"{prefix}_converged": est.fit.converged,
        f"{prefix}_critic_steps": est.fit.iterations,
        f"{prefix}_change": est.fit.change,
    }


def vulnerability(
    encoder: nn.Module,
    x: torch.Tensor,
    radii: Sequence[float],
    cfg: EstimatorConfig,
    attack_steps: int = 10,
    rounds: int = 1,
    norm: str = "l2",
) -> list[dict[str, float]]:
    """Per radius ε: I(X; f(X)), its worst case within ε and their difference (nats), each
    estimate with its 95 % interval and its critics' convergence, and ``converged`` when both
    estimates' critics converged, for images x in [0, 1] (in random order).

    Each round attacks every image against the current critic, then fits fresh critics to
    the perturbed pairs, so each perturbation is measured by critics it was not tuned
    against. The worst case is the lowest information among the candidates tried, the clean
    images (δ = 0, always admissible) among them, so the vulnerability is never negative."""
    encoder.eval()
    clean, clean_critic = cross_fitted_estimate(x, _features(encoder, x, cfg.batch_size), cfg)
    rows = []
    for eps in radii:
        critic, worst = clean_critic, clean
        gen = torch.Generator(device=x.device).manual_seed(cfg.seed + 1)
        for _ in range(rounds if eps > 0 else 0):
            attack = mi_attack(encoder, critic, eps, attack_steps, norm)
            x_adv = torch.cat([attack(x[idx], None, gen) for idx in batches(len(x), cfg.batch_size)])
            attacked, critic = cross_fitted_estimate(x_adv, _features(encoder, x_adv, cfg.batch_size), cfg)
            worst = min(worst, attacked, key=lambda e: e.value)
        rows.append(
            {
                "eps": float(eps),
                **_fields("mi_clean", clean),
                **_fields("mi_adv", worst),
                "vulnerability": clean.value - worst.value,
                "worst_is_clean": worst is clean,
                "converged": clean.fit.converged and worst.fit.converged,
            }
        )
    return rows


class WCMILoss(nn.Module):
    """Negative Jensen–Shannon information between a batch's worst-case images and their
    representations: the encoder and the critic maximise what the attack minimises
    (the unsupervised objective of Zhu et al.; labels are not used)."""

    def __init__(self, model: nn.Module, critic: SeparableCritic) -> None:
        super().__init__()
        self.model, self.critic = model, critic

    def forward(self, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -jsd_terms(self.critic(x_adv, self.model.features(x_adv))).mean(), None
