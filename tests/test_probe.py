"""The torch L-BFGS probe solves scikit-learn's logistic regression, folds into the network
as one linear head, and picks its penalty on a validation split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression

from advinfo.datasets.images import model_inputs, to_unit
from advinfo.errors import DivergenceError
from advinfo.nets.models import with_head
from advinfo.nets.probe import fit_logistic, fit_probe, sklearn_c, standardizer, validation_split


@pytest.fixture(scope="module")
def digit_features(trained_digits_model, digits):
    """Frozen features of the digits splits under the session's trained network."""
    model = trained_digits_model[0]
    out = []
    for split in ("train", "test"):
        images, labels = model_inputs(digits, split, 8, torch.device("cpu"))
        with torch.no_grad():
            out.append((model.features(to_unit(images)), labels))
    return out


def _blobs(n: int, dim: int, classes: int, spread: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=gen) * spread
    y = torch.randint(0, classes, (n,), generator=gen)
    return centres[y] + torch.randn(n, dim, generator=gen), y


@pytest.mark.parametrize("l2", [1e-3, 1e-1])
def test_probe_matches_scikit_learn_at_the_same_penalty(digit_features, l2):
    """The workflow's engine (float32, the default tolerance) against scikit-learn in float64."""
    (z_train, y_train), (z_test, y_test) = digit_features
    probe = fit_probe(z_train, y_train, 10, [l2], tol=1e-5).probe
    zs_train, zs_test = ((z - probe.mean) / probe.scale for z in (z_train, z_test))
    reference = LogisticRegression(C=sklearn_c(l2, len(y_train)), tol=1e-10, max_iter=10_000)
    reference.fit(zs_train.double().numpy(), y_train.numpy())
    sk_acc = 100.0 * reference.score(zs_test.double().numpy(), y_test.numpy())
    assert abs(probe.accuracy(z_test, y_test) - sk_acc) <= 1.0
    ours = torch.softmax(probe.logits(z_test), 1).numpy()
    np.testing.assert_allclose(ours, reference.predict_proba(zs_test.double().numpy()), atol=1e-2)
    np.testing.assert_allclose(probe.weight.numpy(), reference.coef_, atol=0.02 * np.abs(reference.coef_).max())


def test_fit_logistic_reaches_the_exact_optimum_in_float64(digit_features):
    """At a tight tolerance the solution is scikit-learn's to many digits (same objective)."""
    (z_train, y_train), _ = digit_features
    mean, scale = standardizer(z_train)
    zs = ((z_train - mean) / scale).double()
    w, b, _ = fit_logistic(zs, y_train, 10, 1e-2, max_iter=5000, tol=1e-10)
    reference = LogisticRegression(C=sklearn_c(1e-2, len(y_train)), tol=1e-12, max_iter=10_000)
    reference.fit(zs.numpy(), y_train.numpy())
    np.testing.assert_allclose(w.numpy(), reference.coef_, atol=1e-4)

    def objective(weight: torch.Tensor, bias: torch.Tensor) -> float:
        return float(F.cross_entropy(zs @ weight.T + bias, y_train) + 0.5 * 1e-2 * weight.pow(2).sum())

    ours = objective(w, b)
    theirs = objective(torch.from_numpy(reference.coef_), torch.from_numpy(reference.intercept_))
    assert ours <= theirs + 1e-9 and theirs - ours < 1e-6


def test_probe_folds_into_the_network_as_one_linear_head(trained_digits_model, digit_features, digits):
    model = trained_digits_model[0]
    (z_train, y_train), _ = digit_features
    fit = fit_probe(z_train, y_train, 10, [1e-2], seed=0)
    network = with_head(model, fit.probe.as_linear()).eval()
    images = to_unit(model_inputs(digits, "test", 8, torch.device("cpu"))[0][:50])
    with torch.no_grad():
        expected = fit.probe.logits(model.features(images))
        torch.testing.assert_close(network(images), expected, rtol=1e-4, atol=1e-4)
    assert network.head is not model.head and model.head.out_features == 10


def test_penalty_is_chosen_by_validation_accuracy_with_ties_to_the_stronger():
    z, y = _blobs(600, 20, 4, spread=3.0)  # separable: every penalty scores 100%
    fit = fit_probe(z, y, 4, [1e-4, 1e-2, 1.0], val_fraction=0.25, seed=1)
    assert fit.val_accuracy == {1.0: 100.0, 1e-2: 100.0, 1e-4: 100.0}
    assert fit.probe.l2 == 1.0
    noisy_z, noisy_y = _blobs(600, 200, 4, spread=0.25)
    noisy = fit_probe(noisy_z, noisy_y, 4, [1e-4, 1e-2, 10.0], seed=1)
    best = max(noisy.val_accuracy.values())
    assert noisy.val_accuracy[noisy.probe.l2] == best
    assert len(set(noisy.val_accuracy.values())) > 1, "penalties should matter on noisy data"


def test_validation_split_is_stratified_and_excluded_from_fitting(monkeypatch):
    z, y = _blobs(400, 5, 4, spread=2.0)
    seen = []
    original = fit_logistic

    def spy(zs, ys, *args, **kwargs):
        seen.append(len(ys))
        return original(zs, ys, *args, **kwargs)

    monkeypatch.setattr("advinfo.nets.probe.fit_logistic", spy)
    fit_probe(z, y, 4, [0.1, 0.01], val_fraction=0.25)
    assert seen == [300, 300, 400]  # two penalties on the fitting part, then the refit on all


def test_validation_split_keeps_each_class_share_and_is_seeded():
    """The split scikit-learn's stratified train_test_split makes (per-class counts within one)."""
    from sklearn.model_selection import train_test_split

    y = np.repeat(np.arange(5), [30, 50, 70, 90, 113])
    fit, val = validation_split(y, 0.2, seed=3)
    assert len(val) == 71 and sorted(np.concatenate([fit, val]).tolist()) == list(range(len(y)))
    _, theirs = train_test_split(np.arange(len(y)), test_size=0.2, random_state=3, stratify=y)
    assert np.abs(np.bincount(y[val]) - np.bincount(y[theirs])).max() <= 1
    assert np.array_equal(validation_split(y, 0.2, seed=3)[1], val)
    assert not np.array_equal(validation_split(y, 0.2, seed=4)[1], val)
    with pytest.raises(ValueError, match="cannot hold every one of their 5 classes"):
        validation_split(y, 0.01, seed=0)


def test_non_finite_features_stop_the_probe_saying_where():
    z, y = _blobs(100, 5, 3, spread=1.0)
    z[3, 2] = float("inf")
    with pytest.raises(DivergenceError, match="penalty l2=0.01"):
        fit_logistic(z, y, 3, 0.01)


def test_constant_features_do_not_break_standardisation():
    z, y = _blobs(200, 6, 3, spread=2.0)
    z[:, 0] = 0.0  # a dead ReLU unit
    fit = fit_probe(z, y, 3, [0.01])
    assert torch.isfinite(fit.probe.weight).all() and fit.probe.scale[0] == 1.0
