"""Dataset distances: Cui et al.'s EMD against analytic cases and exact solvers, Task2Vec
distance properties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment, linprog
from scipy.spatial.distance import cdist

from advinfo.transfer.distance import (
    class_means,
    domain_emd,
    domain_similarity,
    emd,
    task2vec_distance,
)


def _dataset(rng: np.random.Generator, classes: int, per_class: int, dim: int = 5) -> tuple[np.ndarray, np.ndarray]:
    y = np.repeat(np.arange(classes), per_class)
    return rng.normal(size=(len(y), dim)).astype(np.float32) + 3 * y[:, None], y


def test_class_means_are_per_class_averages_weighted_by_share():
    rng = np.random.default_rng(0)
    y = np.array([2, 0, 2, 2, 5, 0])
    z = rng.normal(size=(6, 3))
    means, weights = class_means(z, y)
    np.testing.assert_allclose(means, [z[y == c].mean(0) for c in (0, 2, 5)])
    np.testing.assert_allclose(weights, [2 / 6, 3 / 6, 1 / 6])


def test_identical_datasets_are_at_distance_zero():
    z, y = _dataset(np.random.default_rng(1), classes=4, per_class=10)
    perm = np.random.default_rng(2).permutation(len(y))
    assert domain_emd(z, y, z[perm], y[perm]) == pytest.approx(0.0, abs=1e-9)
    assert domain_similarity(0.0, 0.01) == 1.0


def test_single_class_datasets_are_at_the_distance_of_their_means():
    rng = np.random.default_rng(3)
    za, zb = rng.normal(size=(7, 4)), rng.normal(size=(9, 4)) + 2.0
    d = domain_emd(za, np.zeros(7, int), zb, np.full(9, 4))
    assert d == pytest.approx(np.linalg.norm(za.mean(0) - zb.mean(0)))
    assert domain_similarity(d, 0.01) == pytest.approx(np.exp(-0.01 * d))


def test_uniform_weights_equal_the_optimal_assignment():
    """With n points of weight 1/n on each side, an optimal plan is a permutation (Birkhoff)."""
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(12, 6)), rng.normal(size=(12, 6))
    cost = cdist(a, b)
    rows, cols = linear_sum_assignment(cost)
    weights = np.full(12, 1 / 12)
    assert emd(a, weights, b, weights) == pytest.approx(cost[rows, cols].mean(), rel=1e-9)


def test_unequal_weights_and_sizes_match_the_transport_linear_program():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(8, 3)) + 1.0
    wa, wb = rng.random(5), rng.random(8)
    wa, wb = wa / wa.sum(), wb / wb.sum()
    cost = cdist(a, b)
    # min <C, P> over P >= 0 with row sums wa and column sums wb
    rows = np.kron(np.eye(5), np.ones(8))
    cols = np.kron(np.ones(5), np.eye(8))
    lp = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([wa, wb]), bounds=(0, None))
    assert lp.status == 0
    assert emd(a, wa, b, wb) == pytest.approx(lp.fun, rel=1e-7)


def test_class_shares_weigh_the_means():
    """Two classes at 0 and 10 on a line against one class at 0: the mass at 10 travels 10."""
    za = np.array([[0.0]] * 3 + [[10.0]])
    zb = np.array([[0.0]] * 5)
    assert domain_emd(za, np.array([0, 0, 0, 1]), zb, np.zeros(5, int)) == pytest.approx(2.5)


def test_task2vec_distance_ignores_scale_and_reaches_one_on_disjoint_tasks():
    rng = np.random.default_rng(6)
    f = rng.random(50)
    assert task2vec_distance(f, f) == pytest.approx(0.0, abs=1e-12)
    assert task2vec_distance(f, 7.0 * f) == pytest.approx(0.0, abs=1e-12)
    assert task2vec_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    g = rng.random(50)
    assert task2vec_distance(f, g) == pytest.approx(task2vec_distance(g, f))
    assert 0.0 < task2vec_distance(f, g) < 1.0


def test_task2vec_distance_refuses_embeddings_of_different_networks():
    with pytest.raises(ValueError, match="different reference networks"):
        task2vec_distance(np.ones(3), np.ones(4))
