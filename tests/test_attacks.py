"""PGD finds the analytic optimum on linear models, keeps its constraints and leaves the model alone.
(Against the authors' APGD-CE and AutoAttack: tests/test_evaluation.py.)"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advinfo.datasets.images import model_inputs, to_unit
from advinfo.robust.accuracy import accuracy
from advinfo.robust.attacks import PGD


def linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2))


def test_l2_attack_reaches_the_analytic_optimum_of_a_linear_model():
    """For two-class linear logits the loss grows fastest along w_1 - w_0 everywhere, so the
    L2 optimum is delta* = eps (w_1 - w_0) / ||w_1 - w_0|| (for the true class 0)."""
    model = linear_model()
    w = model[1].weight.detach()
    x, y, eps = torch.full((1, 3, 4, 4), 0.5), torch.tensor([0]), 0.5
    delta = PGD(model, eps, steps=10, norm="l2", random_start=False)(x, y) - x
    expected = eps * (w[1] - w[0]) / (w[1] - w[0]).norm()
    assert torch.allclose(delta.flatten(), expected, atol=1e-5)
    with torch.no_grad():
        loss, best = (float(F.cross_entropy(model(x + d.view_as(x)), y)) for d in (delta, expected))
    assert loss == pytest.approx(best, rel=1e-5)


def test_linf_attack_reaches_the_analytic_optimum_of_a_linear_model():
    model = linear_model(1)
    w = model[1].weight.detach()
    x, y, eps = torch.full((1, 3, 4, 4), 0.5), torch.tensor([1]), 0.05
    delta = PGD(model, eps, steps=10, norm="linf", random_start=False)(x, y) - x
    assert torch.allclose(delta.flatten(), eps * torch.sign(w[0] - w[1]), atol=1e-6)


def test_random_start_still_converges_on_a_linear_model():
    model = linear_model(2)
    w = model[1].weight.detach()
    x, y, eps = torch.full((4, 3, 4, 4), 0.5), torch.zeros(4, dtype=torch.long), 0.5
    gen = torch.Generator().manual_seed(0)
    attack = PGD(model, eps, steps=20, step_size=0.5 * eps, norm="l2", random_start=True)
    delta = (attack(x, y, gen) - x).flatten(1)
    direction = (w[1] - w[0]) / (w[1] - w[0]).norm()
    cosine = delta @ direction / delta.norm(dim=1)
    assert torch.all(cosine > 0.99) and torch.allclose(delta.norm(dim=1), torch.full((4,), eps), atol=1e-4)


@pytest.mark.parametrize("norm,eps", [("l2", 1.0), ("linf", 0.1)])
def test_constraints_hold_and_model_state_is_untouched(trained_digits_model, digits, norm, eps):
    model = trained_digits_model[0]
    model.zero_grad(set_to_none=True)
    model.train()  # the attack must switch BatchNorm to eval itself and restore the mode
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x_u8, y = model_inputs(digits, "test", 8, torch.device("cpu"), limit=64, seed=0)
    x = to_unit(x_u8)
    adv = PGD(model, eps, steps=5, norm=norm)(x, y, torch.Generator().manual_seed(0))
    model.eval()
    delta = (adv - x).flatten(1)
    if norm == "l2":
        assert torch.all(delta.norm(dim=1) <= eps + 1e-5)
    else:
        assert torch.all(delta.abs() <= eps + 1e-6)
    assert adv.min() >= 0 and adv.max() <= 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed during the attack"
    assert all(p.grad is None for p in model.parameters())


def test_eps_zero_is_the_identity(trained_digits_model):
    x = torch.rand(3, 3, 8, 8)
    assert torch.equal(PGD(trained_digits_model[0], 0.0)(x, torch.zeros(3, dtype=torch.long)), x)


def test_robustness_curve_falls_with_eps(trained_digits_model, digits):
    from advinfo.plan.attack_specs import AttackSpec
    from advinfo.robust.curves import robustness_curve

    model = trained_digits_model[0]
    images, labels = model_inputs(digits, "test", 8, torch.device("cpu"), limit=120, seed=0)
    spec = AttackSpec("pgd", "l2", steps=5, iterations=100, square_queries=5000)
    curve = robustness_curve(model, images, labels, [0.25, 1.0, 3.0], spec, num_classes=10)
    assert list(curve) == ["clean", "0.25", "1", "3"]
    assert curve["clean"] == accuracy(model, images, labels)
    assert curve["clean"] >= curve["0.25"] >= curve["1"] >= curve["3"]
    assert curve["3"] < 20
