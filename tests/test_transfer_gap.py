"""The transfer gap against distance: means over seeds, the robust-minus-standard difference,
and Spearman's ρ against ranks computed independently."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from advinfo.transfer.gap import gap_table, spearman, spearman_table

TARGETS = {"near": 1.0, "mid": 2.0, "far": 4.0, "farther": 8.0}


def _transfer(acc: dict[tuple[float, str], list[float]], mode: str = "linear") -> pd.DataFrame:
    """Rows of transfer.csv: acc[(eps, target)] lists one clean accuracy per seed."""
    rows = []
    for (eps, target), values in acc.items():
        for seed, value in enumerate(values):
            rows.append(
                {
                    "source": "shapes",
                    "arch": "resnet_mini",
                    "method": "standard" if eps == 0 else "pgd",
                    "eps": eps,
                    "seed": seed,
                    "target": target,
                    "mode": mode,
                    "clean_acc": value,
                }
            )
    return pd.DataFrame(rows)


def _distances(measure: str = "emd") -> pd.DataFrame:
    rows = [{"measure": measure, "source": "shapes", "target": t, "distance": d} for t, d in TARGETS.items()]
    return pd.DataFrame(rows)


def test_gap_is_robust_minus_standard_mean_over_seeds():
    acc = {(0.0, t): [80.0, 82.0] for t in TARGETS} | {(0.5, t): [80.0 + i, 84.0 + i] for i, t in enumerate(TARGETS)}
    transfer = pd.concat([_transfer(acc), _transfer({(0.0, "near"): [0.0]}, mode="finetune1")])
    gaps = gap_table(transfer, _distances(), "linear")
    assert list(gaps["target"]) == ["near", "mid", "far", "farther"]  # by distance
    np.testing.assert_allclose(gaps["gap"], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(gaps["standard_acc"], 81.0)
    assert set(gaps["seeds"]) == {2} and set(gaps["eps"]) == {0.5}
    np.testing.assert_allclose(gaps["distance"], sorted(TARGETS.values()))


def test_missing_mode_is_named():
    with pytest.raises(ValueError, match="no rows of mode 'finetune2'"):
        gap_table(_transfer({(0.0, "near"): [1.0]}), _distances(), "finetune2")


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean rank), computed without scipy."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):
        ranks[values == v] = ranks[values == v].mean()
    return ranks


def test_spearman_is_the_correlation_of_ranks():
    rng = np.random.default_rng(0)
    acc = {(0.0, t): [50.0] for t in TARGETS}
    acc |= {(0.25, t): [50.0 + d] for t, d in TARGETS.items()}  # monotone in distance
    acc |= {(0.5, t): [float(rng.integers(40, 60))] for t in TARGETS}
    gaps = gap_table(_transfer(acc), pd.concat([_distances("emd"), _distances("task2vec")]), "linear")
    ranks = spearman_table(gaps)
    assert len(ranks) == 4 and set(ranks["n_targets"]) == {4}
    monotone = ranks[ranks["eps"] == 0.25]
    np.testing.assert_allclose(monotone["rho"], 1.0)
    noisy = gaps[(gaps["eps"] == 0.5) & (gaps["measure"] == "emd")]
    expected = np.corrcoef(_ranks(noisy["distance"].to_numpy()), _ranks(noisy["gap"].to_numpy()))[0, 1]
    row = ranks[(ranks["eps"] == 0.5) & (ranks["measure"] == "emd")].iloc[0]
    assert row["rho"] == pytest.approx(expected)
    assert 0.0 <= row["p_value"] <= 1.0


def test_spearman_is_undefined_below_three_targets():
    acc = {(0.0, t): [50.0] for t in ("near", "far")} | {(0.5, t): [60.0] for t in ("near", "far")}
    ranks = spearman_table(gap_table(_transfer(acc), _distances(), "linear"))
    assert ranks["n_targets"].tolist() == [2] and ranks["rho"].isna().all() and ranks["p_value"].isna().all()


def _exact_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided permutation p-value of the rank correlation, by enumerating every pairing."""
    rx, ry = _ranks(x), _ranks(y)
    observed = abs(np.corrcoef(rx, ry)[0, 1])
    stats = [abs(np.corrcoef(np.array(p), ry)[0, 1]) for p in itertools.permutations(rx)]
    return float(np.mean(np.array(stats) >= observed - 1e-12))


@pytest.mark.parametrize("n", [3, 4, 6])
def test_small_samples_get_the_exact_p_value(n):
    rng = np.random.default_rng(n)
    x = np.arange(n, dtype=float)
    rho, p = spearman(x, x**3)
    assert rho == pytest.approx(1.0) and p == pytest.approx(2 / math.factorial(n))
    y = rng.normal(size=n)
    assert spearman(x, y)[1] == pytest.approx(_exact_p(x, y))


def test_large_samples_use_the_t_approximation():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert spearman(x, y) == pytest.approx(tuple(spearmanr(x, y)))
