"""The evaluation attacks (AutoAttack from torchattacks, APGD-CE, PGD) against an exact reference
and against each other.

The exact reference: a linear classifier on images whose pixels lie in [0.4, 0.6]. An image is
robust at radius ε iff every margin (w_y − w_j)·x + b_y − b_j exceeds ε·‖w_y − w_j‖; the
minimal perturbation moves each pixel by at most ε, so for ε ≤ 0.4 the [0, 1] box never binds
and the exact robust accuracy is computable in closed form. A complete attack must reach it; no
attack may go below it.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advinfo.data import model_inputs
from advinfo.evaluation import ATTACKS, AttackSpec, evaluation_attack
from advinfo.robustness import accuracy, robustness_curve

CLASSES = 10


def spec(name: str, **changes) -> AttackSpec:
    return AttackSpec(**{"name": name, "norm": "l2", "steps": 20, "iterations": 100, "square_queries": 1000} | changes)


@pytest.fixture(scope="module")
def linear_case():
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, CLASSES)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(CLASSES, 192, generator=gen))
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))  # logits W(x - 0.5): margins near the radii
    images = ((0.4 + 0.2 * torch.rand(300, 3, 8, 8, generator=gen)) * 255).round().to(torch.uint8)  # as fed
    with torch.no_grad():
        labels = model(images.float() / 255).argmax(1)  # every image starts correct
    return model, images, labels


def boundary_distance(model: nn.Sequential, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per image, the L2 distance to the nearest decision boundary (closed form)."""
    w, b = model[1].weight.detach(), model[1].bias.detach()
    x = images.float().flatten(1) / 255
    margins = (x @ w.T + b).gather(1, labels[:, None]) - (x @ w.T + b)
    dist = margins / (w[labels][:, None, :] - w[None]).norm(dim=2).clamp_min(1e-12)
    dist[torch.arange(len(labels)), labels] = torch.inf
    return dist.min(1).values


@pytest.mark.parametrize("name", ATTACKS)
def test_attacks_reach_the_exact_robust_accuracy_of_a_linear_model(linear_case, name):
    """No attack goes below the exact robust accuracy (it stays in the ball); AutoAttack reaches it
    within one image. The cross-entropy attacks stop above it (they flip two thirds or more of
    the flippable images): on a multi-class linear model the cross-entropy rises fastest toward
    the class with the largest ‖w_j − w_y‖, not necessarily the nearest boundary, which
    AutoAttack's targeted APGD-T and FAB-T find."""
    model, images, labels = linear_case
    distance = boundary_distance(model, images, labels).sort().values
    n = len(labels)
    for k in (int(0.3 * n), int(0.7 * n)):  # radii between two images' distances: 30 % and 70 % flipped
        eps = float(distance[k - 1] + distance[k]) / 2
        assert eps < 0.1, "the minimal perturbation must stay inside the [0, 1] box (pixels in [0.4, 0.6])"
        exact = 100.0 * (n - k) / n
        measured = accuracy(model, images, labels, evaluation_attack(model, eps, spec(name), CLASSES))
        assert measured >= exact, f"{name} at {eps}: {measured} below the exact {exact}: outside the ball"
        if name == "autoattack":
            assert measured <= exact + 100 / n, f"AutoAttack at {eps}: {measured} vs exact {exact}"
        else:
            assert 100 - measured >= 2 / 3 * (100 - exact), f"{name} at {eps}: {measured} vs exact {exact}"


@pytest.mark.parametrize("name", ATTACKS)
def test_adversarial_images_stay_in_the_ball_and_the_box(trained_digits_model, digits, name):
    model = trained_digits_model[0].eval()
    images, labels = model_inputs(digits, "test", 8, torch.device("cpu"), limit=40, seed=0)
    x = images.float() / 255
    attack = evaluation_attack(model, 0.5, spec(name, iterations=5, square_queries=20), CLASSES)
    adv = attack(x, labels)
    assert (adv - x).flatten(1).norm(dim=1).max() <= 0.5 + 1e-5
    assert adv.min() >= 0 and adv.max() <= 1
    again = evaluation_attack(model, 0.5, spec(name, iterations=5, square_queries=20), CLASSES)(x, labels)
    assert torch.equal(adv, again), "an attack is deterministic from its seed"


def test_autoattack_is_at_least_as_strong_as_pgd_on_a_trained_network(trained_digits_model, digits):
    """The cross-check against a second implementation: the project's PGD (itself checked against
    torchattacks.PGDL2 in test_attacks.py). AutoAttack's worst case over four attacks must not
    leave more images robust, and APGD-CE alone should be within a few points of PGD."""
    model = trained_digits_model[0].eval()
    images, labels = model_inputs(digits, "test", 8, torch.device("cpu"), limit=200, seed=0)
    eps = [0.5]
    pgd = robustness_curve(model, images, labels, eps, spec("pgd"), CLASSES)["0.5"]
    apgd = robustness_curve(model, images, labels, eps, spec("apgd-ce"), CLASSES)["0.5"]
    auto = robustness_curve(model, images, labels, eps, spec("autoattack", iterations=20), CLASSES)["0.5"]
    clean = accuracy(model, images, labels)
    assert clean - pgd > 10, "the attack should bite; otherwise the comparison is empty"
    assert auto <= pgd + 0.5 and auto <= apgd + 0.5, (auto, pgd, apgd)
    assert abs(apgd - pgd) <= 5, (apgd, pgd)


def test_autoattack_refuses_fewer_than_four_classes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    with pytest.raises(ValueError, match="needs 4 classes or more"):
        evaluation_attack(model, 0.5, spec("autoattack"), 3)
    with pytest.raises(ValueError, match="must be one of"):
        evaluation_attack(model, 0.5, spec("fgsm"), 3)
