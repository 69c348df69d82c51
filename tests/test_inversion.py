"""Inversion: exact recovery through an injective linear map, the posterior noise, stopping,
the three variants, feature visualisation, quality measures and the inversion file."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from advinfo.errors import DivergenceError
from advinfo.information.inversion import (
    VARIANTS,
    InversionConfig,
    converged,
    describe,
    image_quality,
    invert,
    invert_variants,
    iterations_to,
    manipulate_features,
    perturbed,
    start_images,
    top_coordinates,
    visualise_features,
)
from advinfo.information.inversion_store import load_inversion, save_inversion
from advinfo.nets.models import Normalize, resnet_mini


def config(**changes) -> InversionConfig:
    """The schema's defaults, with ``changes``."""
    return InversionConfig.from_schema(**{"max_iters": 300, **changes})


@pytest.fixture
def network() -> nn.Module:
    torch.manual_seed(0)
    return resnet_mini(4, Normalize([0.5] * 3, [0.25] * 3), width=4).eval()


def test_an_injective_linear_representation_is_inverted_exactly():
    """z = W vec(x) with W of full column rank: the only minimiser is the image itself."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 48, generator=gen)
    originals = torch.rand(5, 3, 4, 4, generator=gen)

    def f(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ weight.T

    x, losses, fit = invert(
        f, f(originals), (4, 4), config(max_iters=500, tol=-1), torch.Generator().manual_seed(1), progress=False
    )
    psnr, ssim = image_quality(x.numpy(), originals.numpy())
    assert (psnr > 40).all() and (ssim > 0.99).all()
    assert losses.shape == (501, 5) and losses[-1].max() < 0.01 < losses[0].min()
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert not fit.converged and fit.iterations == 500  # a negative tolerance never levels off


def test_an_inversion_stops_once_its_loss_levels_off_then_settles():
    """At a fixed step the loss of an injective linear map falls to the step's scale and levels off;
    the rule stops it there, a window of decaying steps settles it, and the result says so."""
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(64, 48, generator=gen)
    originals = torch.rand(5, 3, 4, 4, generator=gen)

    def f(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ weight.T

    cfg = config(max_iters=2000, window=50, tol=0.01, step_size=0.1)
    x, losses, fit = invert(f, f(originals), (4, 4), cfg, torch.Generator().manual_seed(1), progress=False)
    assert fit.converged and fit.iterations < cfg.max_iters and len(losses) == fit.iterations + 1
    decided = fit.iterations - cfg.window  # the iteration whose window met the rule
    means = losses.mean(1)
    assert (means[decided - cfg.window] - means[decided]) / means[decided - cfg.window] < cfg.tol
    assert means[-1] < means[decided]  # the decaying steps settle below the fixed step's level
    _, _, short = invert(
        f,
        f(originals),
        (4, 4),
        config(max_iters=60, window=50, tol=0.01, step_size=0.1),
        torch.Generator().manual_seed(1),
        progress=False,
    )
    assert not short.converged and short.iterations == 60 and short.change > 0.01


def test_a_non_finite_loss_stops_at_once_saying_where():
    with pytest.raises(DivergenceError, match="at iteration 1"):
        invert(
            lambda x: x.flatten(1) * float("nan"),
            torch.ones(2, 48),
            (4, 4),
            config(),
            torch.Generator().manual_seed(0),
            "probe",
            progress=False,
        )


def test_convergence_is_judged_over_the_window():
    assert not converged([1.0] * 5, window=5, tol=0.01)
    assert converged([1.0] * 6, window=5, tol=0.01)
    assert not converged([1.0, 1.0, 1.0, 0.5], window=3, tol=0.01)
    assert not converged([1.0] * 10, window=3, tol=-1.0), "a negative tolerance never stops"


def test_weight_noise_has_the_posterior_variance_and_belongs_to_the_model(network):
    logvar = {n: torch.full_like(p, math.log(0.05**2)) for n, p in network.named_parameters()}
    noisy = perturbed(network, logvar, torch.Generator().manual_seed(0))
    diffs = torch.cat(
        [(q - p).detach().flatten() for p, q in zip(network.parameters(), noisy.parameters(), strict=True)]
    )
    assert float(diffs.std()) == pytest.approx(0.05, rel=0.05) and abs(float(diffs.mean())) < 0.005
    assert not any(p.requires_grad for p in noisy.parameters()) and not noisy.training
    with pytest.raises(ValueError, match="no log-variance for"):
        perturbed(network, {}, torch.Generator().manual_seed(0))


def test_without_weight_noise_the_three_variants_solve_one_problem(network):
    # Zero variance, not a tiny one: noise of e^-30 still moves the weights that are 0 (biases), and 40
    # normalised steps amplify that to 1e-3 on two threads.
    logvar = {n: torch.full_like(p, -math.inf) for n, p in network.named_parameters()}
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    cfg = config(max_iters=40, tol=-1)
    results, change = invert_variants(network, logvar, images, cfg, progress=False)
    assert list(results) == list(VARIANTS) and np.allclose(change, 0.0)
    x0, loss0, _ = results["inversion"]
    for variant in ("noise_once", "effective"):
        x, loss, _ = results[variant]
        np.testing.assert_allclose(loss, loss0, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(x, x0, rtol=1e-4, atol=1e-5)
    records = describe(results, network, images, np.array([True, True, False]), threshold=0.5, feature_change=change)
    assert len(records) == 3 * 3
    first = [r for r in records if r["variant"] == "inversion"]
    np.testing.assert_allclose([r["clean_loss"] for r in first], loss0[-1], rtol=1e-4)
    assert [r["in_distribution"] for r in first] == [True, True, False]
    assert all(r["iterations"] == 40 and not r["converged"] for r in records)


def test_noise_changes_the_problem(network):
    logvar = {n: torch.full_like(p, math.log(0.1**2)) for n, p in network.named_parameters()}
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    results, change = invert_variants(network, logvar, images, config(max_iters=5, tol=-1), progress=False)
    assert not torch.allclose(results["inversion"][0], results["effective"][0])
    assert (change > 0).all()


def test_effective_images_depend_on_their_input(network):
    """Def. 0.7: the effective image of x inverts f_{w+n}(x), so different inputs give different
    images, each closer to its own input's features than to the others'."""
    logvar = {n: torch.full_like(p, math.log(0.02**2)) for n, p in network.named_parameters()}
    gen = torch.Generator().manual_seed(5)
    images = torch.rand(4, 3, 8, 8, generator=gen)
    results, change = invert_variants(network, logvar, images, config(max_iters=150, tol=-1), progress=False)
    effective = results["effective"][0]
    assert (effective.flatten(1).std(0) > 0.05).float().mean() > 0.5  # not one picture for every input
    with torch.no_grad():
        z, z_eff = network.features(images), network.features(effective)
    distances = torch.cdist(z_eff, z)
    assert torch.equal(distances.argmin(1), torch.arange(4))
    assert (change < 0.5).all()  # small weight noise moves the features a little


def test_feature_manipulation_raises_one_coordinate_within_the_budget(network):
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    raised, before, after = manipulate_features(network, images, [0, 1, 2], eps=1.0, steps=20)
    with torch.no_grad():  # z_k as the network in eval mode computes it (BatchNorm with its statistics)
        torch.testing.assert_close(torch.from_numpy(before), network.features(images)[torch.arange(3), [0, 1, 2]])
        torch.testing.assert_close(torch.from_numpy(after), network.features(raised)[torch.arange(3), [0, 1, 2]])
    assert ((raised - images).flatten(1).norm(dim=1) <= 1.0 + 1e-5).all()
    assert 0.0 <= float(raised.min()) and float(raised.max()) <= 1.0
    assert (after > before).all()


def test_feature_visualisation_raises_the_chosen_coordinates(network):
    cfg = config(sigma=0.2, seed=4)
    with torch.no_grad():
        coordinates = top_coordinates(network.features(torch.rand(16, 3, 8, 8)), 3)
        start = start_images((3, 3, 8, 8), cfg.sigma, torch.Generator().manual_seed(cfg.seed), torch.device("cpu"))
        before = network.features(start)[torch.arange(3), coordinates].numpy()
    assert len(coordinates) == 3
    images, activation = visualise_features(network, coordinates, (8, 8), 50, cfg, torch.device("cpu"))
    assert tuple(images.shape) == (3, 3, 8, 8) and (activation > before + 0.1).all()


def test_quality_measures_match_their_definitions():
    rng = np.random.default_rng(0)
    originals = rng.random((2, 3, 8, 8))
    noisy = np.clip(originals + rng.normal(0, 0.05, originals.shape), 0, 1)
    psnr, ssim = image_quality(noisy, originals)
    mse = ((noisy - originals) ** 2).reshape(2, -1).mean(1)
    np.testing.assert_allclose(psnr, 10 * np.log10(1.0 / mse))
    assert (ssim < 0.99).all() and (image_quality(originals + 1e-4, originals)[1] > 0.999).all()


def test_iterations_to_threshold_is_the_first_crossing():
    losses = np.array([[1.0, 1.0, 1.0], [0.5, 0.9, 1.0], [0.05, 0.08, 1.0], [0.01, 0.2, 1.0]])
    np.testing.assert_array_equal(iterations_to(losses, 0.1), [2.0, 2.0, np.nan])


def test_inversion_file_round_trip_and_corrupt_file(tmp_path):
    path = tmp_path / "inversion.h5"
    arrays = {
        "originals": np.zeros((2, 3, 4, 4)),
        "labels": np.array([1, 2]),
        "in_distribution": np.array([True, False]),
        "images": {v: np.ones((2, 3, 4, 4)) for v in VARIANTS},
        "loss": {v: np.ones((5, 2)) for v in VARIANTS},
        "feature_vis": {"images": np.zeros((1, 3, 4, 4)), "coordinates": np.array([3]), "activation": np.ones(1)},
        "manipulation": {
            "images": np.zeros((1, 2, 3, 4, 4)),
            "coordinates": np.array([3]),
            "before": np.ones((1, 2)),
            "after": np.ones((1, 2)),
        },
    }
    save_inversion(path, arrays, {"source": "digits", "eps": 0.5})
    data, attrs = load_inversion(path)
    assert attrs == {"source": "digits", "eps": 0.5}
    assert data["loss"]["effective"].shape == (5, 2) and data["in_distribution"].tolist() == [True, False]
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="inversion.h5 is missing, truncated"):
        load_inversion(path)
