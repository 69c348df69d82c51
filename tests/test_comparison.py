"""The method comparison against hand-computed values."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from advinfo.report.tables.comparison import comparison_sections, comparison_table


def record(method: str, eps: float, clean: float, robust: dict[str, float], seed: int = 0) -> dict:
    return {
        "source": "shapes",
        "arch": "resnet_mini",
        "method": method,
        "eps": eps,
        "seed": seed,
        "clean_acc": clean,
        "robust_acc": robust,
        "n_test": 1000,
    }


def info(method: str, eps: float, rows: list[tuple[float, float, float]]) -> dict:
    return {
        "source": "shapes",
        "arch": "resnet_mini",
        "method": method,
        "eps": eps,
        "seed": 0,
        "radii": [
            {"eps": e, "mi_clean": c, "mi_adv": a, "vulnerability": c - a, "converged": method != "arat"}
            for e, c, a in rows
        ],
    }


def transfer_rows(method: str, eps: float, accs: dict[str, float], mode: str = "linear") -> list[dict]:
    return [
        {
            "source": "shapes",
            "arch": "resnet_mini",
            "method": method,
            "eps": eps,
            "seed": 0,
            "target": t,
            "mode": mode,
            "clean_acc": a,
        }
        for t, a in accs.items()
    ]


@pytest.fixture
def inputs():
    robustness = [
        record("standard", 0.0, 90.0, {"0.25": 40.0, "0.5": 10.0}),
        record("pgd", 0.25, 85.0, {"0.25": 60.0, "0.5": 30.0}),
        record("pgd", 0.5, 80.0, {"0.25": 65.0, "0.5": 50.0}),
        record("arat", 0.5, 84.0, {"0.25": 70.0, "0.5": 52.0}),
    ]
    mutual = [
        info("standard", 0.0, [(0.25, 3.0, 1.0), (0.5, 3.0, 0.5)]),
        info("pgd", 0.25, [(0.25, 2.0, 1.5), (0.5, 2.0, 1.0)]),
        info("pgd", 0.5, [(0.25, 1.8, 1.6), (0.5, 1.8, 1.5)]),
        info("arat", 0.5, [(0.25, 2.2, 2.0), (0.5, 2.2, 1.9)]),
    ]
    transfer = pd.DataFrame(
        transfer_rows("standard", 0.0, {"a": 70.0, "b": 50.0})
        + transfer_rows("pgd", 0.25, {"a": 71.0, "b": 55.0})
        + transfer_rows("pgd", 0.5, {"a": 72.0, "b": 58.0})
        + transfer_rows("arat", 0.5, {"a": 69.0, "b": 60.0})
        + transfer_rows("arat", 0.5, {"a": 0.0, "b": 0.0}, mode="finetune2")
    )
    return robustness, mutual, transfer


def test_models_at_the_compared_radius_are_set_beside_the_standard_one(inputs):
    table = comparison_table(*inputs, radii=[0.5], mode="linear")
    assert list(table["method"]) == ["standard", "pgd", "arat"]  # pgd at ε=0.25 is not compared at 0.5
    row = table.set_index("method").loc["arat"]
    assert row["clean_acc"] == 84.0 and row["robust_acc"] == 52.0  # robust accuracy at the compared ε
    assert row["transfer_gap"] == pytest.approx(((69 - 70) + (60 - 50)) / 2)  # linear mode only
    assert row["mi_clean"] == 2.2 and row["mi_adv"] == 1.9 and row["vulnerability"] == pytest.approx(0.3)
    assert table.set_index("method")["mi_converged"].to_dict() == {"standard": True, "pgd": True, "arat": False}
    standard = table.set_index("method").loc["standard"]
    assert standard["transfer_gap"] == 0 and standard["robust_acc"] == 10.0 and standard["vulnerability"] == 2.5


def test_without_targets_the_gap_is_missing(inputs):
    robustness, mutual, _ = inputs
    table = comparison_table(robustness, mutual, None, radii=[0.25, 0.5], mode="linear")
    assert list(table["compare_eps"]) == [0.25, 0.25, 0.5, 0.5, 0.5]
    assert table["transfer_gap"].isna().all()
    with pytest.raises(ValueError, match="no model is trained at the compared radii"):
        comparison_table(robustness[1:3], mutual, None, radii=[1.0], mode="linear")


def test_sections_bold_the_best_method_per_column(inputs):
    table = comparison_table(*inputs, radii=[0.5], mode="linear")
    ((title, frame),) = comparison_sections(table)
    assert title == "Source: shapes (resnet_mini), ε = 0.5"
    cells = frame.set_index("method")
    # accuracies carry Wilson's interval (900 and 520 of 1,000 images, computed by hand)
    assert cells.loc["standard", "clean acc. (%)"] == "**90.00 [87.98, 91.71]**"
    assert cells.loc["arat", "robust acc. @ ε (%)"] == "**52.00 [48.90, 55.08]**"
    assert (
        cells.loc["pgd", "vulnerability (nats)"] == "**0.30**"
        and cells.loc["arat", "vulnerability (nats)"] == "**0.30**"
    )
    assert cells.loc["standard", "vulnerability (nats)"] == "2.50"
    assert not math.isnan(table["transfer_gap"].sum())
