"""The result tables: tidy rows, accuracies with 95 % intervals (Wilson for one seed, t over
seeds; the numbers checked here were computed by hand), best per column in bold."""

from __future__ import annotations

import numpy as np

from advinfo.report.landing import leaderboard_lines
from advinfo.report.tables.distance import distance_sections, distance_table
from advinfo.report.tables.inversion import inversion_sections, inversion_table
from advinfo.report.tables.pretraining import (
    leaderboard_checks,
    robustness_markdown,
    robustness_table,
    with_leaderboard,
)
from advinfo.report.tables.render import pivot_sections, render_html, render_markdown
from advinfo.report.tables.transfer import robustness_long, transfer_table


def record(method: str, eps: float, seed: int, clean: float, robust: float) -> dict:
    return {
        "source": "shapes",
        "arch": "resnet_mini",
        "method": method,
        "eps": eps,
        "seed": seed,
        "clean_acc": clean,
        "robust_acc": {"0.5": robust},
        "n_test": 100,
    }


def test_tidy_table_has_one_row_per_model_and_test_eps():
    table = robustness_table([record("pgd", 0.5, 0, 70, 40), record("standard", 0.0, 0, 90, 10)], [3.0, 4.0])
    assert len(table) == 4
    assert list(table["method"]) == ["standard", "standard", "pgd", "pgd"]  # sorted by eps
    assert table.loc[(table.method == "pgd") & (table.test_eps == 0.5), "accuracy"].item() == 40
    assert table.loc[table.method == "standard", "weight_norm"].tolist() == [4.0, 4.0]
    # Wilson's interval of 40 / 100 by hand: centre (p + z²/2n) / (1 + z²/n), half-width
    # z / (1 + z²/n) · sqrt(p(1 − p)/n + z²/4n²) with z = 1.959964
    row = table[(table.method == "pgd") & (table.test_eps == 0.5)].iloc[0]
    assert row["n_test"] == 100
    assert abs(row["ci_low"] - 30.9401) < 1e-3 and abs(row["ci_high"] - 49.7997) < 1e-3


def test_markdown_reports_t_intervals_over_seeds_and_bolds_the_best():
    records = [
        record("standard", 0.0, 0, 90, 10),
        record("standard", 0.0, 1, 92, 12),
        record("pgd", 0.5, 0, 70, 40),
        record("pgd", 0.5, 1, 72, 44),
    ]
    text = robustness_markdown(robustness_table(records, [1.0] * 4), "APGD-CE (10 iterations)")
    lines = [line for line in text.splitlines() if line.startswith("| resnet_mini")]
    # two seeds: mean ± t(0.975, 1) · s/√2 = 12.706 · 1.0 (or · 2.0 for 40 and 44)
    assert lines[0] == "| resnet_mini | standard | 0 | 2 | **91.0 ± 12.7** | 11.0 ± 12.7 |"
    assert lines[1] == "| resnet_mini | pgd | 0.5 | 2 | 71.0 ± 12.7 | **42.0 ± 25.4** |"
    assert "robust @ ε=0.5" in text and "robust = APGD-CE (10 iterations)" in text


def test_markdown_gives_one_seed_its_wilson_interval():
    text = robustness_markdown(robustness_table([record("pgd", 0.5, 0, 50, 40)], [1.0]), "PGD")
    assert "| resnet_mini | pgd | 0.5 | 1 | **50.0 [40.4, 59.6]** | **40.0 [30.9, 49.8]** |" in text


def transfer_record(
    method: str, eps: float, seed: int, target: str, mode: str, clean: float, robust: dict[str, float]
) -> dict:
    return {
        "source": "shapes",
        "arch": "resnet_mini",
        "method": method,
        "eps": eps,
        "seed": seed,
        "target": target,
        "mode": mode,
        "clean_acc": clean,
        "robust_acc": robust,
        "n_test": 100,
        "n_attacked": 100,
    }


TRANSFER = [
    transfer_record("standard", 0.0, 0, "digits", "finetune1", 95, {"0.5": 5, "0.25": 20}),
    transfer_record("standard", 0.0, 0, "digits", "linear", 80, {"0.5": 2, "0.25": 10}),
    transfer_record("standard", 0.0, 1, "digits", "linear", 82, {"0.5": 4, "0.25": 12}),
    transfer_record("pgd", 0.5, 0, "digits", "linear", 88, {"0.5": 40, "0.25": 60}),
    transfer_record("pgd", 0.5, 1, "digits", "linear", 86, {"0.5": 44, "0.25": 64}),
    transfer_record("pgd", 0.5, 0, "letters", "linear", 50, {"0.5": 30, "0.25": 40}),
    transfer_record("pgd", 0.5, 0, "digits", "finetune1", 96, {"0.5": 30, "0.25": 50}),
]


def test_transfer_table_is_tidy_with_robust_accuracy_at_the_source_eps():
    table = transfer_table(TRANSFER)
    assert len(table) == len(TRANSFER)
    assert list(table.columns[-6:]) == [
        "clean_acc",
        "n_test",
        "robust_acc",
        "n_attacked",
        "robust_acc@0.25",
        "robust_acc@0.5",
    ]
    row = table[(table.method == "pgd") & (table.seed == 1)].iloc[0]
    assert row["robust_acc"] == 44 and row["robust_acc@0.25"] == 64
    assert table.loc[table.method == "standard", "robust_acc"].isna().all()
    digits = table[(table.target == "digits") & (table.seed == 0) & (table.method == "standard")]
    assert list(digits["mode"]) == ["linear", "finetune1"]  # the probe first


def test_transfer_pivot_puts_targets_in_rows_models_in_columns_and_bolds_the_best():
    table = transfer_table(TRANSFER)
    sections = pivot_sections(table[table["mode"] == "linear"], ["target"], "clean_acc", n_column="n_test")
    assert [title for title, _ in sections] == ["Source: shapes (resnet_mini)"]
    frame = sections[0][1]
    assert list(frame.columns) == ["target", "standard", "pgd ε=0.5"]
    assert frame.values.tolist() == [
        ["digits", "81.0 ± 12.7", "**87.0 ± 12.7**"],
        ["letters", "–", "**50.0 [40.4, 59.6]**"],
    ]
    text = render_markdown(sections, "note")
    assert "| digits | 81.0 ± 12.7 | **87.0 ± 12.7** |" in text and text.rstrip().endswith("note")
    page = render_html(sections, "Table 1", "note")
    assert "<b>87.0 ± 12.7</b>" in page and "**" not in page and page.startswith("<!DOCTYPE html>")
    # without test sizes, a pivot shows mean ± std over seeds (measures that are not accuracies)
    plain = pivot_sections(table[table["mode"] == "linear"], ["target"], "clean_acc")[0][1]
    assert plain.values.tolist()[0] == ["digits", "81.0 ± 1.4", "**87.0 ± 1.4**"]


def test_robustness_pivot_has_a_row_per_target_and_attack_radius():
    table = transfer_table(TRANSFER)
    long = robustness_long(table[table["mode"] == "linear"])
    frame = pivot_sections(long, ["target", "test ε"], "accuracy", n_column="n_attacked")[0][1]
    assert frame.values.tolist() == [
        ["digits", "0.25", "11.0 ± 12.7", "**62.0 ± 25.4**"],
        ["digits", "0.5", "3.0 ± 12.7", "**42.0 ± 25.4**"],
        ["letters", "0.25", "–", "**40.0 [30.9, 49.8]**"],
        ["letters", "0.5", "–", "**30.0 [21.9, 39.6]**"],
    ]


def test_distance_table_is_tidy_and_pivots_to_a_matrix_per_measure():
    ref = "shapes/resnet_mini/standard-eps0-seed0"
    records = [
        {"measure": "task2vec", "source": "shapes", "target": "digits", "distance": 0.2, "reference": ref},
        {
            "measure": "emd",
            "source": "shapes",
            "target": "letters",
            "distance": 3.0,
            "similarity": 0.97,
            "reference": ref,
            "gamma": 0.01,
        },
        {
            "measure": "emd",
            "source": "shapes",
            "target": "digits",
            "distance": 2.0,
            "similarity": 0.98,
            "reference": ref,
            "gamma": 0.01,
        },
    ]
    table = distance_table(records)
    assert list(table.columns) == ["measure", "source", "target", "distance", "similarity", "reference"]
    assert table[["measure", "target"]].values.tolist() == [
        ["emd", "digits"],
        ["emd", "letters"],
        ["task2vec", "digits"],
    ]
    assert table["similarity"].isna().tolist() == [False, False, True]
    sections = distance_sections(table)
    assert [title.split(" distance")[0] for title, _ in sections] == ["EMD", "Task2Vec"]
    assert ref in sections[0][0]
    emd = sections[0][1]
    assert list(emd.columns) == ["source", "digits", "letters"]
    assert emd.iloc[0].tolist() == ["shapes", "2", "3"]


def test_inversion_table_is_tidy_and_pivots_each_metric_with_the_right_best():
    def result(method, eps, psnr, iters):
        records = [
            {
                "variant": v,
                "image": i,
                "in_distribution": i < 2,
                "psnr": psnr + i,
                "ssim": 0.1 * i,
                "final_loss": 0.1,
                "clean_loss": 0.1,
                "iterations": 50,
                "converged": method == "pgd",
                "loss_change": 0.004,
                "iterations_to_threshold": iters,
                "noise_feature_change": 0.05 * (i + 1),
                "fake_relu": True,
            }
            for v in ("inversion", "effective")
            for i in range(3)
        ]
        return {"source": "shapes", "arch": "resnet_mini", "method": method, "eps": eps, "seed": 0, "records": records}

    table = inversion_table([result("pgd", 0.5, 20.0, 10), result("standard", 0.0, 10.0, 40)])
    assert len(table) == 2 * 2 * 3 and list(table.columns[:8]) == [
        "source",
        "arch",
        "method",
        "eps",
        "seed",
        "variant",
        "images",
        "image",
    ]
    assert table["images"].tolist()[:3] == ["source", "source", "out-of-distribution"]
    assert table.groupby("method")["converged"].all().to_dict() == {"pgd": True, "standard": False}
    sections = dict(inversion_sections(table))
    psnr = sections["PSNR (dB) against the original — Source: shapes (resnet_mini)"]
    assert list(psnr.columns) == ["variant", "images", "standard", "pgd ε=0.5"]
    row = psnr[(psnr["variant"] == "inversion") & (psnr["images"] == "source")].iloc[0]
    assert row["standard"] == "10.5" and row["pgd ε=0.5"] == "**20.5**"  # mean over the source images
    iters = sections[
        "iterations to the loss threshold (median over images that reach it) — Source: shapes (resnet_mini)"
    ]
    assert iters.iloc[0]["pgd ε=0.5"] == "**10**", "fewer iterations are better"
    ssim = sections["SSIM against the original — Source: shapes (resnet_mini)"]
    assert ssim.iloc[0]["standard"] in ("0.200", "**0.200**")
    title = "||f_{w+n}(x) − f_w(x)|| / ||f_w(x)||: how far the posterior's weight noise moves z"
    change = sections[f"{title} — Source: shapes (resnet_mini)"]
    source = change[(change["variant"] == "inversion") & (change["images"] == "source")].iloc[0]
    assert source["standard"] in ("0.075", "**0.075**")  # mean of 0.05 and 0.10 over the source images


def test_tables_with_no_rows_say_so_instead_of_failing():
    """Targets that are all sources transfer nothing: the tables are written, empty, with a note."""
    transfer, distances = transfer_table([]), distance_table([])
    assert transfer.empty and {"source", "target", "mode", "clean_acc"} <= set(transfer.columns)
    assert distances.empty and {"measure", "distance", "reference"} <= set(distances.columns)
    sections = pivot_sections(transfer, ["target"], "clean_acc")
    assert sections == [] and robustness_long(transfer).empty and distance_sections(distances) == []
    assert "No rows: nothing of this kind ran" in render_markdown(sections, "a note")
    assert "No rows: nothing of this kind ran" in render_html(sections, "Transfer", "a note")


LEADER_MODEL = {"source": "rb", "arch": "engstrom2019robustness", "method": "pgd", "eps": 0.5, "seed": 0}
BOARD = LEADER_MODEL | {"clean": 90.83, "autoattack": 69.24, "radius": 0.5, "norm": "l2", "full_test": 10000}


def leaderboard_record(n_test: int = 10000, attack: str = "autoattack") -> dict:
    return LEADER_MODEL | {
        "clean_acc": 90.5,
        "robust_acc": {"0.25": 80.0, "0.5": 69.0},
        "n_test": n_test,
        "attack": {"name": attack, "norm": "l2"},
    }


def test_the_leaderboard_is_compared_only_as_it_was_measured_and_flagged_outside_our_interval():
    """AutoAttack at the board's radius on the full test split: compared, a number inside our
    Wilson interval agrees, one outside is flagged; another attack or a sample: shown, not compared."""
    rec = leaderboard_record()
    table = robustness_table([rec], [1.0])
    checks = leaderboard_checks(table, [rec], [BOARD])
    assert [(c["measure"], c["not_compared"], c["flag"]) for c in checks] == [
        ("clean", "", False),  # 90.83 lies in 90.5's interval on 10,000 images, [89.9, 91.1]
        ("AutoAttack", "", False),
    ]
    far = leaderboard_checks(table, [rec], [BOARD | {"autoattack": 71.0}])
    assert [c["flag"] for c in far] == [False, True]
    marked = with_leaderboard(table, far)
    assert marked.loc[np.isclose(marked["test_eps"], 0.5), "leaderboard"].item() == 71.0
    assert marked["leaderboard_flag"].tolist() == [False, False, True]  # radii 0, 0.25, 0.5
    assert np.isnan(marked.loc[np.isclose(marked["test_eps"], 0.25), "leaderboard"].item())
    text = robustness_markdown(marked, "AutoAttack", far)
    assert "RobustBench leaderboard" in text and "FLAG: outside our interval" in text
    assert "\n- **FLAGGED** rb/engstrom2019robustness pgd ε=0.5 seed 0: AutoAttack" in "\n".join(
        leaderboard_lines(marked)
    )

    apgd = leaderboard_record(attack="apgd-ce")
    checks = leaderboard_checks(robustness_table([apgd], [1.0]), [apgd], [BOARD | {"autoattack": 71.0}])
    assert checks[0]["not_compared"] == "" and "not AutoAttack" in checks[1]["not_compared"]
    assert not any(c["flag"] for c in checks)
    sample = leaderboard_record(n_test=1000)
    checks = leaderboard_checks(robustness_table([sample], [1.0]), [sample], [BOARD | {"clean": 99.0}])
    assert all("measured on 1000 of 10000 test images" in c["not_compared"] for c in checks)
    assert not any(c["flag"] for c in checks)
    agreed = with_leaderboard(table, leaderboard_checks(table, [rec], [BOARD]))
    assert "No flag: each of the 2 leaderboard accuracies" in "\n".join(leaderboard_lines(agreed))
    assert leaderboard_lines(robustness_table([rec], [1.0]).assign(leaderboard=np.nan, leaderboard_flag=False)) == []
