"""Hutchinson traces, power-iteration eigenvalues and the Prop. 0.3 check against exact Jacobians."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev, vmap

from advinfo.information.fisher import (
    fisher_measures,
    hutchinson_trace,
    random_change,
    top_eigenvalue,
    worst_case_change,
)
from advinfo.nets.models import build_model


@pytest.fixture(scope="module")
def small():
    """A small random network, a few images, and their exact per-image Jacobians (N, D, C*H*W)."""
    torch.manual_seed(0)
    model = build_model("resnet_mini", 5, width=4).eval()
    x = torch.rand(6, 3, 8, 8)
    jac = vmap(jacrev(lambda xi: model.features(xi[None])[0]))(x).flatten(2).detach()
    return model.features, x, jac


def test_hutchinson_trace_matches_the_exact_frobenius_norm(small):
    f, x, jac = small
    exact = jac.pow(2).sum((1, 2))
    estimate, se = hutchinson_trace(f, x, probes=300, generator=torch.Generator().manual_seed(1))
    assert ((estimate - exact).abs() / exact).mean() < 0.05
    assert ((estimate - exact).abs() <= 4 * se).all()


def test_power_iteration_finds_the_top_singular_value(small):
    f, x, jac = small
    exact = torch.linalg.matrix_norm(jac, ord=2) ** 2
    estimate, u = top_eigenvalue(f, x, iters=40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(estimate, exact, rtol=1e-2, atol=0)
    torch.testing.assert_close(u.flatten(1).norm(dim=1), torch.ones(len(x)))


def test_prop_0_3_is_exact_for_a_linear_representation():
    """For f(x) = A x the worst change on the sphere is ε²σ₁² and random directions average ε²‖A‖²_F/n."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(7, 12, generator=gen)
    f = lambda x: x.flatten(1) @ a.T  # noqa: E731
    x = torch.rand(3, 12, generator=gen)
    eps = 0.3
    sigma1_sq = torch.linalg.matrix_norm(a, ord=2) ** 2
    worst = worst_case_change(f, x, eps, steps=200, generator=gen)
    torch.testing.assert_close(worst, torch.full((3,), float(eps**2 * sigma1_sq)), rtol=1e-3, atol=0)
    rand = random_change(f, x, eps, directions=4000, generator=gen)
    expected = eps**2 * a.pow(2).sum() / 12
    assert ((rand - expected).abs() / expected).max() < 0.08


def test_measures_summarise_images_and_probe_radii(small):
    f, x, jac = small
    out = fisher_measures(f, x, probes=8, power_iters=5, check_epsilons=(0.01, 0.1), check_steps=3, directions=2)
    assert out["n_images"] == 6 and out["input_dim"] == 3 * 8 * 8
    assert [c["eps"] for c in out["prop03"]] == [0.01, 0.1]
    assert out["lambda1"] <= out["trace"] and out["trace_se"] > 0
    first = out["prop03"][0]
    assert first["eps2_lambda1"] == pytest.approx(0.01**2 * out["lambda1"])
    assert first["worst_change"] >= first["random_change"]
