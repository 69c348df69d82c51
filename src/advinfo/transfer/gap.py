"""The robust-minus-standard transfer accuracy gap against task distance, and its rank
correlation (the paper's Figs. 3 and 7: the farther the target, the more robust features win).

The paper extracts the *order* of datasets from the distance, so the correlation is
Spearman's, computed over the targets of each (source, arch, robust model, measure). Its
p-value is exact (all pairings enumerated) up to 8 targets: scipy's t-approximation gives
p = 0 for a perfect order of 3 targets, whose exact two-sided p is 1/3.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import permutation_test, rankdata, spearmanr

GAP_KEYS = ["source", "arch", "method", "eps", "measure"]
EXACT_UP_TO = 8  # targets; 8! = 40320 pairings


def gap_table(transfer: pd.DataFrame, distances: pd.DataFrame, mode: str) -> pd.DataFrame:
    """One row per (source, arch, robust model, target, measure): the mean clean accuracy over
    seeds of the robust and of the standard model for transfer ``mode``, their gap (robust −
    standard, points of %), and the source-target distance."""
    rows = transfer[transfer["mode"] == mode]
    if rows.empty:
        have = sorted(transfer["mode"].unique())
        raise ValueError(f"the transfer table has no rows of mode {mode!r} (it has {have})")
    acc = rows.groupby(["source", "arch", "method", "eps", "target"], as_index=False)["clean_acc"].agg(
        acc="mean", seeds="count"
    )
    standard = acc[acc["eps"] == 0][["source", "arch", "target", "acc"]].rename(columns={"acc": "standard_acc"})
    robust = acc[acc["eps"] > 0].rename(columns={"acc": "robust_acc"})
    gaps = robust.merge(standard, on=["source", "arch", "target"])
    gaps["gap"] = gaps["robust_acc"] - gaps["standard_acc"]
    gaps = gaps.merge(distances[["measure", "source", "target", "distance"]], on=["source", "target"])
    columns = GAP_KEYS + ["target", "distance", "robust_acc", "standard_acc", "gap", "seeds"]
    return gaps.sort_values(GAP_KEYS + ["distance", "target"], ignore_index=True)[columns]


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(ρ, two-sided p) of Spearman's rank correlation; NaN below 3 points or for a constant input."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns that its t-approximation is poor for small n
        rho, p = spearmanr(x, y)
    if len(x) <= EXACT_UP_TO:
        rx, centred_y = rankdata(x), rankdata(y) - (len(y) + 1) / 2

        def rank_corr(r: np.ndarray, axis: int = -1) -> np.ndarray:
            r = r - r.mean(axis=axis, keepdims=True)
            return (r * centred_y).sum(axis) / np.sqrt((r**2).sum(axis) * (centred_y**2).sum())

        test = permutation_test((rx,), rank_corr, permutation_type="pairings", n_resamples=np.inf, vectorized=True)
        p = test.pvalue
    return float(rho), float(p)


def spearman_table(gaps: pd.DataFrame) -> pd.DataFrame:
    """Spearman's ρ between distance and gap, and its two-sided p-value, per (source, arch,
    robust model, measure); NaN with fewer than 3 targets or a constant column."""
    rows = []
    for keys, block in gaps.groupby(GAP_KEYS, sort=True):
        rho, p = spearman(block["distance"].to_numpy(), block["gap"].to_numpy())
        rows.append({**dict(zip(GAP_KEYS, keys, strict=True)), "n_targets": len(block), "rho": rho, "p_value": p})
    return pd.DataFrame(rows, columns=GAP_KEYS + ["n_targets", "rho", "p_value"])
