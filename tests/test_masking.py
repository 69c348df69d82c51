"""The gradient-masking checks flag a model built to mask its gradients (a non-differentiable
input quantisation: every gradient is 0, so gradient attacks find nothing while the black-box
Square attack still does) and pass an ordinary trained network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advinfo.datasets.images import model_inputs
from advinfo.plan.attack_specs import AttackSpec
from advinfo.robust.curves import masking_accuracies, robustness_curve
from advinfo.robust.masking import CHECKS as MASKING_CHECKS
from advinfo.robust.masking import MaskingConfig, verdicts

EPS = 0.5
CFG = MaskingConfig.from_schema(square_queries=300, restarts=1, steps_factor=3)


class Quantised(nn.Module):
    """``net`` behind round(4x)/4: the same predictions as a 2-bit input, and a zero gradient."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * 4) / 4)


def checks(model: nn.Module, digits) -> tuple[dict[str, float], dict[str, bool]]:
    torch.set_num_threads(1)
    images, labels = model_inputs(digits, "test", 8, torch.device("cpu"), limit=150, seed=0)
    spec = AttackSpec("pgd", "l2", steps=20, iterations=100, square_queries=5000)
    curve = robustness_curve(model, images, labels, [0.25, 0.5, 1.0], spec, num_classes=10)
    measured = masking_accuracies(model, images, labels, EPS, spec.steps, "l2", CFG)
    return measured, verdicts(measured, curve, len(labels), CFG)


@pytest.mark.slow
def test_a_model_that_masks_its_gradients_is_flagged(trained_digits_model, digits):
    masked = Quantised(trained_digits_model[0]).eval()
    measured, passed = checks(masked, digits)
    assert measured["clean"] > 70, "the quantised network should still classify"
    assert measured["pgd"] > measured["square"] + 10, "gradient attacks are blind here; Square is not"
    assert not passed["black_box_weaker"] and not passed["near_zero_at_large_eps"]
    assert not all(passed.values())


@pytest.mark.slow
def test_an_ordinary_network_passes_every_check(trained_digits_model, digits):
    measured, passed = checks(trained_digits_model[0].eval(), digits)
    assert measured["clean"] > measured["pgd"] + 20, "the attack should bite; otherwise the test is empty"
    assert passed == dict.fromkeys(MASKING_CHECKS, True), measured


SOUND = {"clean": 90.0, "pgd": 40.0, "pgd_strong": 39.5, "single_step": 55.0, "square": 60.0, "large_eps": 0.0}
CURVE = {"clean": 90.0, "0.25": 60.0, "0.5": 40.0, "1": 10.0}


@pytest.mark.parametrize(
    ("check", "accuracy", "curve"),
    [
        ("falls_with_eps", {}, {"1": 45.0}),  # rises from 40 at 0.5 to 45 at 1
        ("near_zero_at_large_eps", {"large_eps": 30.0}, {}),
        ("more_steps", {"pgd_strong": 30.0}, {}),
        ("black_box_weaker", {"square": 20.0}, {}),
        ("iterative_stronger", {"single_step": 20.0}, {}),
    ],
)
def test_each_symptom_fails_its_own_check_and_no_other(check, accuracy, curve):
    passed = verdicts(SOUND | accuracy, CURVE | curve, 1000, CFG)
    assert passed == {name: name != check for name in MASKING_CHECKS}


def test_a_difference_of_one_image_is_no_evidence():
    # 2 of 50 images: above the 1-point tolerance, but one image is 2 points
    assert verdicts(SOUND | {"pgd_strong": 38.0}, CURVE, 50, CFG)["more_steps"]
    assert not verdicts(SOUND | {"pgd_strong": 36.0}, CURVE, 50, CFG)["more_steps"]
