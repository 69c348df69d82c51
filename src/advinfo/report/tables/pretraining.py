"""The pretraining tables: clean and robust accuracy of every model, and the gradient-masking
checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from advinfo.plan.names import MODEL_KEYS, model_label
from advinfo.report.intervals import Interval, format_interval, wilson
from advinfo.report.tables.render import INTERVAL_NOTE, render_markdown, summary_cell
from advinfo.robust.masking import CHECKS as MASKING_CHECKS


def robustness_table(records: Sequence[dict[str, Any]], final_norms: Sequence[float]) -> pd.DataFrame:
    """Long table: one row per model and test radius (test_eps 0 = clean accuracy), with the
    number of test images and the accuracy's 95 % Wilson interval."""
    rows = []
    for rec, norm in zip(records, final_norms, strict=True):
        model = {k: rec[k] for k in MODEL_KEYS}
        for eps, acc in [(0.0, rec["clean_acc"]), *rec["robust_acc"].items()]:
            ci = wilson(acc, rec["n_test"])
            row = {"test_eps": float(eps), "accuracy": acc, "n_test": rec["n_test"], "ci_low": ci.low}
            rows.append({**model, **row, "ci_high": ci.high, "weight_norm": norm})
    order = ["source", "arch", "eps", "method", "seed", "test_eps"]
    return pd.DataFrame(rows).sort_values(order, ignore_index=True)[
        MODEL_KEYS + ["test_eps", "accuracy", "n_test", "ci_low", "ci_high", "weight_norm"]
    ]


def with_leaderboard(table: pd.DataFrame, checks: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``table`` with, per row a leaderboard number applies to (:func:`leaderboard_checks`), that
    number and whether it lies outside our interval when the two are comparable."""
    table = table.assign(leaderboard=math.nan, leaderboard_flag=False)
    for check in checks:
        table.loc[check["row"], ["leaderboard", "leaderboard_flag"]] = [check["leaderboard"], check["flag"]]
    return table


def _model_rows(table: pd.DataFrame, board: dict[str, Any]) -> pd.Series:
    same = (table["source"] == board["source"]) & (table["arch"] == board["arch"]) & (table["seed"] == board["seed"])
    return same & (table["method"] == board["method"]) & np.isclose(table["eps"].astype(float), board["eps"])


def _why_not_compared(rec: dict[str, Any], board: dict[str, Any], autoattack: bool) -> str:
    """Why a leaderboard number cannot be set against ours ('' when it can): the leaderboard
    measures on the full test split, with AutoAttack at the threat's radius."""
    if board["full_test"] is None or rec["n_test"] != board["full_test"]:
        full = board["full_test"] or "an unknown number of"
        return f"measured on {rec['n_test']} of {full} test images (evaluate.n_test: 0 uses them all)"
    attack = rec["attack"]
    if autoattack and (attack["name"] != "autoattack" or attack["norm"] != board["norm"]):
        return f"measured with {attack['name']} ({attack['norm']}), not AutoAttack ({board['norm']}) (evaluate.attack)"
    return ""


def leaderboard_checks(
    table: pd.DataFrame, records: Sequence[dict[str, Any]], boards: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per zoo model with leaderboard numbers and per measure (clean; AutoAttack at the board's
    radius, when evaluated there): the table row, ours with its interval, the leaderboard's value,
    why they are not compared ('' when they are) and the flag: compared, and the leaderboard's
    value outside our 95 % interval."""
    checks = []
    for board in boards:
        rows = table[_model_rows(table, board)]
        rec = next(r for r in records if all(r[k] == board[k] for k in ("source", "arch", "method", "seed")))
        for measure, value, radius in (
            ("clean", board["clean"], 0.0),
            ("AutoAttack", board["autoattack"], board["radius"]),
        ):
            at = rows[np.isclose(rows["test_eps"], radius)]
            if at.empty:
                continue
            row = at.iloc[0]
            why = _why_not_compared(rec, board, autoattack=radius > 0)
            outside = not row["ci_low"] <= value <= row["ci_high"]
            checks.append(
                {
                    "row": at.index[0],
                    "model": f"{board['source']}/{board['arch']} {model_label(board['method'], board['eps'])}",
                    "measure": measure,
                    "radius": radius,
                    "ours": Interval(row["accuracy"], row["ci_low"], row["ci_high"], "wilson"),
                    "leaderboard": float(value),
                    "not_compared": why,
                    "flag": not why and outside,
                }
            )
    return checks


def leaderboard_section(checks: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The leaderboard's numbers beside ours, one row per model and measure."""
    rows = []
    for c in checks:
        verdict = f"not compared: {c['not_compared']}" if c["not_compared"] else "agrees"
        rows.append(
            [
                c["model"],
                c["measure"] if c["radius"] == 0 else f"{c['measure']} @ ε={c['radius']:.4g}",
                format_interval(c["ours"]),
                f"{c['leaderboard']:.2f}",
                "**FLAG: outside our interval**" if c["flag"] else verdict,
            ]
        )
    return pd.DataFrame(rows, columns=["model", "accuracy", "ours", "leaderboard", "check"])


def robustness_markdown(table: pd.DataFrame, attack: str, checks: Sequence[dict[str, Any]] = ()) -> str:
    """Pivot: a row per (source, arch, eps, method), a column per test radius, each accuracy with
    its 95 % interval, best value of each column per source in bold; then the leaderboard's
    numbers beside ours (``checks``, :func:`leaderboard_checks`)."""
    keys = ["source", "arch", "eps", "method"]
    radii = sorted(table["test_eps"].unique())
    header = ["arch", "method", "train ε", "seeds"] + ["clean" if e == 0 else f"robust @ ε={e:g}" for e in radii]
    sections = []
    for source, block in table.groupby("source", sort=True):
        cells = {key: summary_cell(g["accuracy"], g["n_test"]) for key, g in block.groupby([*keys, "test_eps"])}
        best = {e: max(mean for key, (mean, _) in cells.items() if key[-1] == e) for e in radii}
        rows = []
        for key, group in block.groupby(keys, sort=True):
            row = [key[1], key[3], f"{key[2]:g}", str(group["seed"].nunique())]
            for e in radii:
                mean, text = cells.get((*key, e), (float("nan"), "–"))
                row.append(f"**{text}**" if mean == best[e] else text)
            rows.append(row)
        sections.append((f"Source: {source}", pd.DataFrame(rows, columns=header)))
    if checks:
        sections.append(("RobustBench leaderboard", leaderboard_section(checks)))
    return render_markdown(
        sections, f"Accuracy in % on the source test split; robust = {attack}. Best per column in bold. {INTERVAL_NOTE}"
    )


MASKING_ATTACKS = {  # accuracy column: header
    "clean": "clean",
    "pgd": "PGD",
    "pgd_strong": "PGD, more steps and restarts",
    "single_step": "one step",
    "square": "Square",
    "large_eps": "PGD at large ε",
}


def masking_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy table, one row per model: the checks' radius and images, the accuracy under each of
    their attacks, each check passed or not, and whether all passed."""
    rows = []
    for rec in records:
        row = {k: rec[k] for k in MODEL_KEYS} | {"check_eps": rec["check_eps"], "n_test": rec["n_test"]}
        row |= {f"acc_{k}": rec["accuracy"][k] for k in MASKING_ATTACKS}
        row |= {f"pass_{k}": bool(rec["checks"][k]) for k in MASKING_CHECKS}
        rows.append(row | {"large_eps": rec["options"]["large_eps"], "passed": bool(rec["passed"])})
    return pd.DataFrame(rows).sort_values(["source", "arch", "eps", "method", "seed"], ignore_index=True)


def masking_sections(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One (title, table of strings) per (source, arch): a row per model, the accuracy under each
    attack with its Wilson interval, and FLAGGED with the failed checks' numbers when any fails."""
    sections = []
    names = list(MASKING_CHECKS)
    for (source, arch), block in table.groupby(["source", "arch"], sort=False):
        rows = []
        for rec in block.itertuples(index=False):
            cells = [model_label(rec.method, rec.eps), str(rec.seed), f"{rec.check_eps:g}"]
            for k in MASKING_ATTACKS:
                cells.append(format_interval(wilson(getattr(rec, f"acc_{k}"), rec.n_test)))
            failed = [str(names.index(k) + 1) for k in names if not getattr(rec, f"pass_{k}")]
            cells.append("pass" if not failed else f"**FLAGGED** (fails {', '.join(failed)})")
            rows.append(cells)
        header = ["model", "seed", "ε", *MASKING_ATTACKS.values(), "checks"]
        sections.append((f"Source: {source} ({arch})", pd.DataFrame(rows, columns=header)))
    return sections


def masking_note(table: pd.DataFrame) -> str:
    """The checks in words, numbered as the table's flags name them."""
    checks = "; ".join(f"({i}) {text}" for i, text in enumerate(MASKING_CHECKS.values(), 1))
    large = ", ".join(f"{e:g}" for e in sorted(table["large_eps"].unique())) if len(table) else "–"
    return (
        f"Gradient-masking checks (Carlini et al. 2019) on each model at the radius ε, same test images for every "
        f"attack: {checks}. Large ε = {large}. A model that fails any check is FLAGGED: its robust accuracy may "
        f"come from hidden gradients rather than robustness. Accuracies in % with 95 % Wilson intervals."
    )
