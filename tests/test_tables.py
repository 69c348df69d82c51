"""The pretraining table: tidy rows, mean ± std over seeds, best per column in bold."""

from __future__ import annotations

from advinfo.tables import robustness_markdown, robustness_table


def record(method: str, eps: float, seed: int, clean: float, robust: float) -> dict:
    return {"source": "shapes", "arch": "resnet_mini", "method": method, "eps": eps, "seed": seed,
            "clean_acc": clean, "robust_acc": {"0.5": robust}}  # fmt: skip


def test_tidy_table_has_one_row_per_model_and_test_eps():
    table = robustness_table([record("pgd", 0.5, 0, 70, 40), record("standard", 0.0, 0, 90, 10)], [3.0, 4.0])
    assert len(table) == 4
    assert list(table["method"]) == ["standard", "standard", "pgd", "pgd"]  # sorted by eps
    assert table.loc[(table.method == "pgd") & (table.test_eps == 0.5), "accuracy"].item() == 40
    assert table.loc[table.method == "standard", "weight_norm"].tolist() == [4.0, 4.0]


def test_markdown_reports_mean_std_over_seeds_and_bolds_the_best():
    records = [record("standard", 0.0, 0, 90, 10), record("standard", 0.0, 1, 92, 12),
               record("pgd", 0.5, 0, 70, 40), record("pgd", 0.5, 1, 72, 44)]  # fmt: skip
    text = robustness_markdown(robustness_table(records, [1.0] * 4))
    lines = [line for line in text.splitlines() if line.startswith("| resnet_mini")]
    assert lines[0] == "| resnet_mini | standard | 0 | 2 | **91.0 ± 1.4** | 11.0 ± 1.4 |"
    assert lines[1] == "| resnet_mini | pgd | 0.5 | 2 | 71.0 ± 1.4 | **42.0 ± 2.8** |"
    assert "robust @ ε=0.5" in text
