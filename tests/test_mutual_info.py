"""The mutual information estimator against Gaussians of known information, its bounds
against their definitions, the worst-case attack, and unsupervised wcmi training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import pretrain_digits

from advinfo.convergence import Convergence
from advinfo.datasets.images import model_inputs, to_unit
from advinfo.information.mutual_info import (
    Estimate,
    EstimatorConfig,
    SeparableCritic,
    cross_fitted_estimate,
    dv_estimate,
    fit_critic,
    jsd_objective,
    jsd_terms,
    mi_attack,
    vulnerability,
)
from advinfo.nets.models import Normalize, resnet_mini
from advinfo.plan.hyperparameters import TrainConfig


def gaussian_pairs(d: int, rho: float, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, float]:
    """x ~ N(0, I_d), z = ρx + √(1−ρ²)·noise: I(X; Z) = −d/2·log(1 − ρ²) nats."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    z = rho * x + math.sqrt(1 - rho**2) * torch.randn(n, d, generator=gen)
    return x, z, -d / 2 * math.log(1 - rho**2)


@pytest.mark.parametrize(("d", "rho", "rel"), [(2, 0.5, 0.10), (4, 0.8, 0.15)])
def test_the_estimate_recovers_the_information_of_correlated_gaussians(d, rho, rel):
    torch.manual_seed(0)
    x, z, truth = gaussian_pairs(d, rho, 16000)
    est, _ = cross_fitted_estimate(
        x, z, EstimatorConfig.from_schema(steps=1000, batch_size=256, hidden=128, embed=32, folds=2)
    )
    assert est.value == pytest.approx(truth, rel=rel)
    assert est.value < truth * 1.05  # a lower bound, up to sampling noise
    assert est.low <= est.value <= est.high and len(est.folds) == 2


def test_independent_variables_carry_no_information():
    x, _, _ = gaussian_pairs(4, 0.0, 16000)
    _, z, _ = gaussian_pairs(4, 0.0, 16000, seed=1)
    est, _ = cross_fitted_estimate(
        x, z, EstimatorConfig.from_schema(steps=600, batch_size=256, hidden=128, embed=32, folds=2)
    )
    assert 0 <= est.value < 0.05  # each fold's bound is at least the constant critic's 0


def test_the_interval_is_a_t_interval_over_folds():
    fits = [Convergence(True, 100, 0.001), Convergence(False, 150, 0.02), Convergence(True, 75, -0.0)]
    est = Estimate.of([3.0, 4.0, 5.0], fits)
    assert est.value == 4.0 and est.folds == (3.0, 4.0, 5.0)
    assert est.high - est.value == pytest.approx(4.302653 * 1.0 / math.sqrt(3))  # t(0.975, 2 df) · sd / √n
    assert est.value - est.low == pytest.approx(est.high - est.value)
    assert est.fit == Convergence(False, 150, 0.02)  # converged only when every fold's critic did
    assert Estimate.of([0.0, 0.1, 2.0], fits).low == 0.0  # cut at 0: an information is never negative
    with pytest.raises(ValueError, match="5 pairs are too few for 4 folds"):
        cross_fitted_estimate(torch.randn(5, 2), torch.randn(5, 2), EstimatorConfig.from_schema(folds=4))


def test_bounds_match_their_definitions():
    scores = torch.randn(5, 5, generator=torch.Generator().manual_seed(0)) * 2
    joint = [scores[i, i] for i in range(5)]
    pairs = [scores[i, j] for i in range(5) for j in range(5) if i != j]
    jsd = sum(-F.softplus(-t) for t in joint) / 5 - sum(F.softplus(t) for t in pairs) / 20
    dv = sum(joint) / 5 - torch.log(sum(torch.exp(t) for t in pairs) / 20)
    torch.testing.assert_close(jsd_terms(scores).mean(), jsd)
    torch.testing.assert_close(dv_estimate(scores), dv)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        jsd_terms(scores[:1, :1])


@pytest.fixture
def encoder():
    torch.manual_seed(0)
    return resnet_mini(4, Normalize((0.5,) * 3, (0.25,) * 3), width=4).eval()


def test_the_attack_lowers_the_critics_objective_within_the_ball(encoder):
    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    cfg = EstimatorConfig.from_schema(steps=100, batch_size=32)
    with torch.no_grad():
        z = encoder.features(x)
    critic, _ = fit_critic(x, z, cfg, seed=0)
    x_adv = mi_attack(encoder, critic, 0.5, steps=5)(x, None, torch.Generator().manual_seed(1))
    assert (x_adv - x).flatten(1).norm(dim=1).max() <= 0.5 + 1e-5
    with torch.no_grad():
        before = jsd_objective(critic, x, z, 32)
        after = jsd_objective(critic, x_adv, encoder.features(x_adv), 32)
    assert after < before


def test_vulnerability_grows_with_the_radius_for_a_standard_network(trained_digits_model, digits):
    model, _, _ = trained_digits_model
    x = model_inputs(digits, "train", 8, torch.device("cpu"))[0][:600]  # digits' split is shuffled already
    rows = vulnerability(
        model, to_unit(x), [0.0, 0.5, 1.0], EstimatorConfig.from_schema(steps=150, batch_size=64), attack_steps=5
    )
    assert [r["eps"] for r in rows] == [0.0, 0.5, 1.0]
    assert len({r["mi_clean"] for r in rows}) == 1 and rows[0]["mi_clean"] > 1.0  # one clean estimate, nats
    assert rows[0]["vulnerability"] == 0.0 and rows[0]["worst_is_clean"]  # no perturbation
    for row in rows:
        assert row["vulnerability"] == pytest.approx(row["mi_clean"] - row["mi_adv"])
        assert row["mi_adv_low"] <= row["mi_adv"] <= row["mi_adv_high"] <= row["mi_clean_high"]
    assert 0 < rows[1]["vulnerability"] < rows[2]["vulnerability"]
    assert not model.training  # the attacks leave the network in eval mode


def test_two_seeds_agree_within_their_intervals_on_a_trained_network(trained_digits_model, digits):
    model, _, _ = trained_digits_model
    x = to_unit(model_inputs(digits, "train", 8, torch.device("cpu"), limit=800, seed=0, balanced=True)[0])
    with torch.no_grad():
        z = model.features(x)
    a, b = (
        cross_fitted_estimate(x, z, EstimatorConfig.from_schema(steps=200, batch_size=64, seed=seed))[0]
        for seed in (0, 10)
    )
    assert a.value > 1.0 and a.folds != b.folds  # informative, and the seeds did differ
    assert abs(a.value - b.value) <= max(a.high - a.value, b.high - b.value)


def test_a_critic_stops_once_its_held_out_objective_levels_off_and_says_so():
    x, z, _ = gaussian_pairs(2, 0.8, 4000)
    cfg = EstimatorConfig.from_schema(steps=2000, batch_size=256, hidden=64, embed=16)
    _, fit = fit_critic(x, z, cfg, seed=0)
    assert fit.converged and fit.iterations < cfg.steps and 0 <= fit.change < cfg.tol
    assert fit.iterations % cfg.check_every == 0 and fit.iterations >= (cfg.patience + 1) * cfg.check_every
    _, cut = fit_critic(x, z, EstimatorConfig.from_schema(steps=60, batch_size=256, hidden=64, embed=16), seed=0)
    assert not cut.converged and cut.iterations == 60  # too few checks to see it level off


def test_the_critic_scores_every_pairing():
    critic = SeparableCritic(3, 2, hidden=8, embed=4)
    x, z = torch.randn(5, 3), torch.randn(5, 2)
    scores = critic(x, z)
    assert scores.shape == (5, 5)
    torch.testing.assert_close(scores[1, 3], (critic.g(x[1:2]) @ critic.h(z[3:4]).T)[0, 0])


def test_wcmi_learns_without_labels_and_gets_a_probe_head(digits):
    cfg = TrainConfig.from_schema(method="wcmi", eps=0.5, attack_steps=1, epochs=1, batch_size=256)
    shuffled = type(digits)(**{**vars(digits), "y_train": digits.y_train[torch.randperm(len(digits.y_train))]})
    head = {"penalties": [1e-3, 1e-1]}
    runs = [pretrain_digits(ds, cfg, head_probe=head) for ds in (digits, shuffled)]
    (a, history, meta), (b, _, _) = runs
    for (name, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        if not name.startswith("head."):  # the encoder never saw a label
            assert torch.equal(va, vb), name
    assert not torch.equal(a.head.weight, b.head.weight)  # the probe head did
    assert meta["head"] == "linear probe" and math.isnan(history[0]["train_acc"])
