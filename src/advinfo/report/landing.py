"""The report's landing page: what ran (config, grid, data, code version), the claims table, the
gradient-masking flags and the estimates that did not converge, as reStructuredText that
``workflow/report/landing.rst`` includes."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from advinfo.plan.names import model_label
from advinfo.report.claims import FAIL, INCONCLUSIVE, PASS, untested
from advinfo.robust.masking import CHECKS as MASKING_CHECKS


def code_version(root: str | Path) -> str:
    """The git commit of the checkout at ``root`` (``-dirty`` with uncommitted changes), or why not."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"git {out.stdout.strip()}"


def _cell(text: Any) -> str:
    """One list-table cell: a single line, with no character rst would read as markup."""
    return " ".join(str(text).split()).replace("*", r"\*").replace("|", r"\|").replace("`", r"\`") or "–"


def list_table(frame: pd.DataFrame, widths: Sequence[int]) -> list[str]:
    """``frame`` as an rst list-table."""
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {' '.join(map(str, widths))}", ""]
    for row in [list(frame.columns), *frame.astype(str).values.tolist()]:
        lines.append(f"   * - {_cell(row[0])}")
        lines += [f"     - {_cell(c)}" for c in row[1:]]
    return lines + [""]


def _section(title: str) -> list[str]:
    return [title, "-" * len(title), ""]


def _model(rec: Any) -> str:
    return f"{rec['source']}/{rec['arch']} {model_label(rec['method'], rec['eps'])} seed {rec['seed']}"


def unconverged_estimates(
    information: Sequence[dict[str, Any]], inversion: pd.DataFrame, mutual_info: Sequence[dict[str, Any]]
) -> list[str]:
    """One line per estimate that ran out of budget: each model's weight posterior (its
    information.json), inversion variant (inversion.csv) and mutual-information radius (its
    mutual_info.json)."""
    lines = [
        f"weight posterior of {_model(rec)}: {rec['posterior_epochs']} epochs, the mean log-variance still moving "
        f"{rec['posterior_logvar_change']:+.3f} per epoch, loss excess {rec['posterior_excess']:.3f}"
        for rec in information
        if not rec["posterior_converged"]
    ]
    failed = inversion[~inversion["converged"].astype(bool)] if len(inversion) else inversion
    for _, group in failed.groupby(["source", "arch", "method", "eps", "seed", "variant"], sort=False):
        rec = group.iloc[0]
        lines.append(
            f"{rec['variant'].replace('_', '-')} inversion of {_model(rec)}: {rec['iterations']} iterations, "
            f"the mean loss still falling {100 * rec['loss_change']:.1f} % per window"
        )
    for rec in mutual_info:
        for row in rec["radii"]:
            if not row["converged"]:
                steps = max(row["mi_clean_critic_steps"], row["mi_adv_critic_steps"])
                lines.append(f"mutual-information critics of {_model(rec)} at ε = {row['eps']:g}: {steps} steps")
    return lines


def leaderboard_lines(robustness: pd.DataFrame) -> list[str]:
    """The landing page's leaderboard section (none when no zoo model has leaderboard numbers):
    each accuracy of pretrain_robustness.csv whose leaderboard number is outside our interval."""
    boards = robustness[robustness["leaderboard"].notna()]
    if boards.empty:
        return []
    lines = _section("RobustBench leaderboard")
    flagged = boards[boards["leaderboard_flag"].astype(bool)]
    if flagged.empty:
        lines += [
            f"No flag: each of the {len(boards)} leaderboard accuracies that could be compared lies within our "
            "95 % interval (results/tables/pretrain_robustness.md says which could: AutoAttack at the threat's "
            "radius on the full test split).",
            "",
        ]
    for _, rec in flagged.iterrows():
        what = "clean" if rec["test_eps"] == 0 else f"AutoAttack at ε = {rec['test_eps']:.4g}"
        lines += [
            f"- **FLAGGED** {_cell(_model(rec))}: {what} accuracy {rec['accuracy']:.2f} "
            f"[{rec['ci_low']:.2f}, {rec['ci_high']:.2f}], leaderboard {rec['leaderboard']:.2f}."
        ]
    return lines + ([""] if len(flagged) else [])


def overview_rst(
    run: dict[str, Any],
    claims: pd.DataFrame,
    masking: pd.DataFrame,
    unconverged: Sequence[str],
    version: str,
    robustness: pd.DataFrame,
) -> str:
    """The landing page's body: ``run`` holds the config files, grid and data in words;
    ``unconverged`` the estimates that ran out of budget (:func:`unconverged_estimates`);
    ``robustness`` pretrain_robustness.csv, whose leaderboard flags it lists."""
    lines = _section("What ran")
    lines += [f"- **{name}**: {_cell(value)}" for name, value in run.items()]
    lines += [f"- **code**: {version}", ""]

    lines += _section("The paper's claims on this run")
    counts = claims["verdict"].value_counts()
    lines += [
        f"**{counts.get(PASS, 0)} PASS, {counts.get(FAIL, 0)} FAIL, {counts.get(INCONCLUSIVE, 0)} INCONCLUSIVE.** "
        "Each claim compares the most robust model with the standard one (or tests a ratio), each side with its "
        "95 % interval: PASS when the intervals are apart in the claimed direction, FAIL when apart the other "
        "way, INCONCLUSIVE when they overlap (results/tables/claims.csv).",
        "",
    ]
    if len(claims):
        shown = claims[["verdict", "statement", "source", "measured"]]
        lines += list_table(shown.rename(columns={"statement": "claim"}), [10, 35, 10, 45])
    missing = untested(claims)
    if missing:
        lines += ["Not testable with this config: " + "; ".join(missing) + ".", ""]

    lines += _section("Gradient masking")
    flagged = masking[~masking["passed"].astype(bool)] if len(masking) else masking
    if len(masking) and flagged.empty:
        lines += [f"All {len(masking)} models pass the five gradient-masking checks.", ""]
    for _, rec in flagged.iterrows():
        failed = [text for name, text in MASKING_CHECKS.items() if not bool(rec[f"pass_{name}"])]
        lines += [f"- **FLAGGED** {_cell(_model(rec))}: fails {_cell('; '.join(failed))}."]
    if len(flagged):
        lines += [""]
    lines += leaderboard_lines(robustness)

    lines += _section("Convergence")
    if not unconverged:
        lines += ["Every weight posterior, inversion and mutual-information critic converged within its budget.", ""]
    lines += [f"- **NOT CONVERGED** {_cell(line)}." for line in unconverged]
    lines += (
        [
            "",
            "A claim that rests on an estimate that did not converge is INCONCLUSIVE. Raise its budget "
            "(information.posterior.max_epochs, inversion.max_iters, information.mutual_info.critic_steps).",
        ]
        if unconverged
        else []
    )
    return "\n".join([*lines, ""]) + "\n"
