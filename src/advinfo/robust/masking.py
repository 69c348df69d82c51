"""Checks that a robust accuracy is not an artefact of masked gradients (Carlini et al. 2019,
"On Evaluating Adversarial Robustness", §5.1 and Appendix; Athalye et al. 2018).

A model that hides its gradients (a non-differentiable input quantisation, a saturated softmax)
looks robust to gradient attacks without being robust. Four symptoms give it away, each
measured on the same test images:

1. accuracy does not fall as ε grows, or stays well above 0 at a very large ε;
2. more steps and random restarts lower accuracy by more than a point (the attack had not
   converged);
3. the black-box Square attack, which never reads a gradient, is stronger than the white-box ones;
4. a single gradient step is stronger than the iterative attack.

The attacks run in ``robustness.masking_accuracies``; this module (torch-free, so the tables
read it cheaply) holds the checks and their thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from advinfo.plan.schema import FromSchema

CHECKS = {  # name: what passing means, as the tables say it
    "falls_with_eps": "accuracy does not rise with ε",
    "near_zero_at_large_eps": "accuracy near 0 at a large ε",
    "more_steps": "more steps and restarts lower it by at most the tolerance",
    "black_box_weaker": "Square (black box) is not stronger than the white-box attacks",
    "iterative_stronger": "the iterative attack is not weaker than one step",
}


@dataclass(frozen=True)
class MaskingConfig(FromSchema):
    """The checks' budget and thresholds (``from_schema``: the schema's ``evaluate.masking``)."""

    SECTION: ClassVar[str] = "evaluate.masking"

    n_test: int  # test images attacked by the checks (0: the whole split)
    large_eps: float  # the radius at which accuracy must be near 0
    steps_factor: int  # the stronger PGD runs this many times the evaluation's steps
    restarts: int  # ... from this many random starts, worst case per image
    square_queries: int
    tolerance: float  # points of accuracy a check may miss by (at least one image's worth)
    near_zero: float  # % accuracy counted as "near 0" at large_eps


def verdicts(accuracy: dict[str, float], curve: dict[str, float], n: int, cfg: MaskingConfig) -> dict[str, bool]:
    """Each check of :data:`CHECKS` passed or not, from ``robustness.masking_accuracies``
    on ``n`` images and the evaluation's robustness curve ({"clean": acc, "<eps>": acc}). A check
    may miss by the tolerance or by one image, whichever is more: one image is no evidence."""
    ordered = [curve["clean"]] + [curve[k] for k in sorted((k for k in curve if k != "clean"), key=float)]
    tol = max(cfg.tolerance, 100 / n)
    white_box = min(accuracy["pgd"], accuracy["pgd_strong"])
    passed = {
        "falls_with_eps": all(b <= a + tol for a, b in zip(ordered, ordered[1:], strict=False)),
        "near_zero_at_large_eps": accuracy["large_eps"] <= cfg.near_zero,
        "more_steps": accuracy["pgd"] - accuracy["pgd_strong"] <= tol,
        "black_box_weaker": accuracy["square"] >= white_box - tol,
        "iterative_stronger": accuracy["single_step"] >= accuracy["pgd"] - tol,
    }
    return {name: passed[name] for name in CHECKS}
