"""The evaluation attacks (the authors' AutoAttack and APGD-CE, and our PGD) against an exact
reference, against the authors' own call, and against each other.

The exact reference: a linear classifier on images whose pixels lie in [0.4, 0.6]. An image is
robust at radius ε iff every margin (w_y − w_j)·x + b_y − b_j exceeds ε·‖w_y − w_j‖_* (the dual
norm: L2 for L2 attacks, L1 for L∞ ones); the minimal perturbation moves each pixel by at most
ε, so for ε ≤ 0.4 the [0, 1] box never binds and the exact robust accuracy is computable in
closed form. A complete attack must reach it; no attack may go below it.
"""

from __future__ import annotations

import pytest
import torch
from pyautoattack import AutoAttack
from pyautoattack.autopgd_base import APGDAttack_targeted
from torch import nn

from advinfo.datasets.images import model_inputs, to_unit
from advinfo.plan.attack_specs import ATTACKS, AttackSpec
from advinfo.robust.accuracy import accuracy, robust_mask
from advinfo.robust.curves import robustness_curve
from advinfo.robust.evaluation import AUTOATTACK_NORMS, autoattack, build_attack, square, with_iterations

CLASSES = 10
DUAL = {"l2": 2.0, "linf": 1.0}  # the dual norm of each attack's norm, for the exact distance
# AutoAttack's budget against the exact reference: 30 iterations reach it on a linear model (the
# standard 100 run in test_autoattack_is_the_authors_standard_evaluation).
SHORT = {"iterations": 30, "square_queries": 100}


def spec(name: str, **changes) -> AttackSpec:
    return AttackSpec(**{"name": name, "norm": "l2", "steps": 20, "iterations": 100, "square_queries": 1000} | changes)


def linear_case(classes: int) -> tuple[nn.Sequential, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, classes)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(classes, 192, generator=gen))
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))  # logits W(x - 0.5): margins near the radii
    images = ((0.4 + 0.2 * torch.rand(300, 3, 8, 8, generator=gen)) * 255).round().to(torch.uint8)  # as fed
    with torch.no_grad():
        labels = model(images.float() / 255).argmax(1)  # every image starts correct
    return model, images, labels


@pytest.fixture(scope="module")
def linear10():
    return linear_case(CLASSES)


def boundary_distance(model: nn.Sequential, images: torch.Tensor, labels: torch.Tensor, norm: str) -> torch.Tensor:
    """Per image, the distance to the nearest decision boundary in the attack's norm (closed form)."""
    w, b = model[1].weight.detach(), model[1].bias.detach()
    x = images.float().flatten(1) / 255
    margins = (x @ w.T + b).gather(1, labels[:, None]) - (x @ w.T + b)
    dist = margins / (w[labels][:, None, :] - w[None]).norm(p=DUAL[norm], dim=2).clamp_min(1e-12)
    dist[torch.arange(len(labels)), labels] = torch.inf
    return dist.min(1).values


def exact_cases(model, images, labels, norm: str) -> list[tuple[float, float]]:
    """(radius, exact robust accuracy in %) at radii between two images' distances, 30 % and 70 %
    of the images flipped."""
    distance = boundary_distance(model, images, labels, norm).sort().values
    n = len(labels)
    cases = []
    for k in (int(0.3 * n), int(0.7 * n)):
        eps = float(distance[k - 1] + distance[k]) / 2
        assert eps < 0.1, "the minimal perturbation must stay inside the [0, 1] box (pixels in [0.4, 0.6])"
        cases.append((eps, 100.0 * (n - k) / n))
    return cases


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("name", ATTACKS)
def test_attacks_reach_the_exact_robust_accuracy_of_a_linear_model(linear10, name, norm):
    """No attack goes below the exact robust accuracy (it stays in the ball); AutoAttack reaches it
    within one image. The cross-entropy attacks stop above it (they flip two thirds or more of
    the flippable images): on a multi-class linear model the cross-entropy rises fastest toward
    the class with the largest ‖w_j − w_y‖, not necessarily the nearest boundary, which
    AutoAttack's targeted APGD-T and FAB-T find."""
    model, images, labels = linear10
    n = len(labels)
    for eps, exact in exact_cases(model, images, labels, norm):
        attack = build_attack(model, eps, spec(name, norm=norm, **SHORT), CLASSES)
        measured = accuracy(model, images, labels, attack)
        assert measured >= exact, f"{name} at {eps}: {measured} below the exact {exact}: outside the ball"
        if name == "autoattack":
            assert measured <= exact + 100 / n, f"AutoAttack at {eps}: {measured} vs exact {exact}"
        else:
            assert 100 - measured >= 2 / 3 * (100 - exact), f"{name} at {eps}: {measured} vs exact {exact}"


def test_autoattack_targets_every_other_class_of_a_model_with_fewer_than_ten():
    """The standard version targets 9 classes; with 5 it must target the 4 others (the authors' code
    would index a tenth class that does not exist) and still reach the exact robust accuracy."""
    model, images, labels = linear_case(5)
    for eps, exact in exact_cases(model, images, labels, "l2"):
        measured = accuracy(model, images, labels, build_attack(model, eps, spec("autoattack", **SHORT), 5))
        assert exact <= measured <= exact + 100 / len(labels), (eps, measured, exact)


@pytest.mark.parametrize("norm,eps", [("l2", 0.5), ("linf", 0.05)])
@pytest.mark.parametrize("name", ATTACKS)
def test_adversarial_images_stay_in_the_ball_and_the_box(trained_digits_model, digits, name, norm, eps):
    model = trained_digits_model[0].eval()
    images, labels = model_inputs(digits, "test", 8, torch.device("cpu"), limit=40, seed=0)
    x = images.float() / 255
    budget = spec(name, norm=norm, iterations=5, square_queries=20)
    torch.manual_seed(123)
    rng = torch.get_rng_state()
    adv = build_attack(model, eps, budget, CLASSES)(x, labels)
    assert torch.equal(torch.get_rng_state(), rng), "an attack leaves the caller's random state alone"
    size = (adv - x).flatten(1).norm(dim=1) if norm == "l2" else (adv - x).flatten(1).abs().amax(dim=1)
    assert size.max() <= eps + 1e-5
    assert adv.min() >= 0 and adv.max() <= 1
    again = build_attack(model, eps, budget, CLASSES)(x, labels)
    assert torch.equal(adv, again), "an attack is deterministic from its seed"


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_autoattack_is_the_authors_standard_evaluation(linear10, norm):
    """Our robust accuracy, image by image, is the one the authors' own call gives as RobustBench
    makes it (``AutoAttack(version="standard").run_standard_evaluation``, one batch, same seed, the
    whole standard budget): the wrapper adds nothing and loses nothing."""
    model, images, labels = linear10
    images, labels = images[:100], labels[:100]
    eps = exact_cases(model, images, labels, norm)[0][0]
    standard = spec("autoattack", norm=norm, square_queries=5000)
    ours = robust_mask(model, images, labels, build_attack(model, eps, standard, CLASSES))
    adversary = AutoAttack(model, norm=AUTOATTACK_NORMS[norm], eps=eps, version="standard", seed=0)
    x_adv, _ = adversary.run_standard_evaluation(to_unit(images), labels, batch_size=len(labels))
    with torch.no_grad():
        theirs = model(x_adv).argmax(1) == labels
    assert 20 <= int(theirs.sum()) <= 80, "some images robust, some not; otherwise the check is empty"
    assert torch.equal(ours, theirs)


def test_pgd_apgd_ce_and_autoattack_are_ordered_on_a_trained_network(trained_digits_model, digits):
    """The cross-check of the three attacks: AutoAttack's first attack is APGD-CE with the same seed
    and budget, so AutoAttack leaves no more images robust than APGD-CE; APGD-CE, the stronger
    optimiser, leaves no more than our PGD at the same number of steps (within one image)."""
    model = trained_digits_model[0].eval()
    images, labels = model_inputs(digits, "test", 8, torch.device("cpu"), limit=200, seed=0)
    eps, steps = [0.5], 20
    pgd, apgd, auto = (
        robustness_curve(model, images, labels, eps, spec(name, steps=steps, iterations=steps), CLASSES)["0.5"]
        for name in ("pgd", "apgd-ce", "autoattack")
    )
    assert accuracy(model, images, labels) - pgd > 10, "the attack should bite; otherwise the comparison is empty"
    assert pgd + 100 / len(labels) >= apgd >= auto, (pgd, apgd, auto)


def test_a_shorter_apgd_keeps_autoattacks_settings_with_its_own_schedule():
    """A budget other than the standard 100 iterations rebuilds APGD's step-size checkpoints (the
    constructor derives them from n_iter) and keeps the rest of what AutoAttack set up."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 10))
    standard = autoattack(model, 0.5, "linf", seed=3).apgd_targeted
    short = with_iterations(standard, 20)
    fresh = APGDAttack_targeted(model, n_iter=20, norm="Linf", eps=0.5)
    assert (short.n_iter, short.n_iter_2, short.n_iter_min, short.size_decr) == (
        fresh.n_iter,
        fresh.n_iter_2,
        fresh.n_iter_min,
        fresh.size_decr,
    )
    assert (short.n_target_classes, short.n_restarts, short.seed, short.norm) == (9, 1, 3, "Linf")
    assert with_iterations(standard, 100) is standard


def test_square_reads_no_gradient(trained_digits_model, digits):
    """The masking checks' black-box attack never asks for a gradient of the model."""
    model = trained_digits_model[0].eval()
    images, labels = model_inputs(digits, "test", 8, torch.device("cpu"), limit=20, seed=0)
    x = to_unit(images).requires_grad_(False)
    calls = []
    handle = model.register_full_backward_hook(lambda *_: calls.append(1))
    try:
        adv = square(model, 0.5, "l2", 50, seed=0)(x, labels)
    finally:
        handle.remove()
    assert not calls and (adv - x).flatten(1).norm(dim=1).max() <= 0.5 + 1e-5


def test_autoattack_refuses_fewer_than_four_classes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    with pytest.raises(ValueError, match="needs 4 classes or more"):
        build_attack(model, 0.5, spec("autoattack"), 3)
    with pytest.raises(ValueError, match="must be one of"):
        build_attack(model, 0.5, spec("fgsm"), 3)
