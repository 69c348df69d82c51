"""The weight posterior: unneeded weights relax to the prior, needed ones stay tight."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from advinfo.errors import DivergenceError
from advinfo.posterior import (
    PosteriorConfig,
    fit_posterior,
    kl_to_prior,
    layer_summary,
    load_posterior,
    save_posterior,
)


@pytest.fixture(scope="module")
def linear_task():
    """A linear classifier whose inputs 3 and 4 are always zero, so their weights do not matter."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 5, generator=gen)
    x[:, 3:] = 0
    y = (x @ torch.tensor([[3.0, -2.0, 1.0, 0, 0], [-3.0, 2.0, -1.0, 0, 0]]).T).argmax(1)
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 2)
    opt = torch.optim.LBFGS(model.parameters(), max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y) + 1e-3 * model.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return model, x, y


def test_unneeded_weights_reach_the_prior_variance_and_needed_ones_stay_small(linear_task):
    model, x, y = linear_task
    cfg = PosteriorConfig(epochs=30, batch_size=200, lr=0.05, beta=1e-3, prior_std=0.5)
    logvar, history = fit_posterior(model, x, y, cfg, progress=False)
    prior = math.log(0.25)
    unused, used = logvar["weight"][:, 3:], logvar["weight"][:, :3]
    torch.testing.assert_close(unused, torch.full_like(unused, prior), atol=0.05, rtol=0)
    assert (used < prior - 1.0).all()
    assert history[-1]["ce"] < 0.2 and len(history) == 30
    assert torch.equal(model.weight, model.weight.detach())  # the trained weights are not changed


def test_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(10, generator=gen), torch.randn(10, generator=gen)
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 0.3)).sum()
    torch.testing.assert_close(kl_to_prior(mean, logvar, 0.3**2), expected)


def test_summary_weights_layers_by_size():
    rows = layer_summary({"a": torch.full((3,), -2.0), "b": torch.full((1,), -6.0)})
    assert rows[-1] == {"layer": "all", "numel": 4, "mean_logvar": -3.0}


def test_posterior_file_round_trips_and_a_broken_one_is_named(tmp_path):
    logvar = {"stem.0.weight": torch.randn(4, 3), "head.bias": torch.randn(2)}
    save_posterior(logvar, {"source": "shapes"}, tmp_path / "p.h5")
    loaded = load_posterior(tmp_path / "p.h5")
    assert loaded.keys() == logvar.keys() and all(torch.equal(loaded[k], logvar[k]) for k in logvar)
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="bad.h5 is missing, truncated or not a weight-posterior file"):
        load_posterior(tmp_path / "bad.h5")


def test_divergence_stops_saying_where(linear_task):
    model, x, y = linear_task
    with pytest.raises(DivergenceError, match="epoch 1, batch 1"):
        fit_posterior(model, x * float("nan"), y, PosteriorConfig(epochs=1), progress=False)
