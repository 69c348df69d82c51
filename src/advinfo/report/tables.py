"""Tidy result tables and their paper-style renderings."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from advinfo.fileio import write_text
from advinfo.plan.names import MODEL_KEYS, model_label
from advinfo.report.intervals import accuracy_interval, format_interval, wilson
from advinfo.robust.masking import CHECKS as MASKING_CHECKS

# What every pivot of accuracies says about its intervals.
INTERVAL_NOTE = (
    "Accuracies carry a 95 % interval: [low, high] is Wilson's for one seed's test images; ± is the "
    "t-interval's half-width over seeds."
)


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


def table_cell(mean: float, std: float, count: int, decimals: int = 1) -> str:
    """A table cell: the mean, ± the std over seeds when there are several; a dash if absent."""
    if pd.isna(mean):
        return "–"
    return f"{mean:.{decimals}f}" if count == 1 else f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def summary_cell(values: Sequence[float], ns: Sequence[float] | None, decimals: int = 1) -> tuple[float, str]:
    """(mean, text) of one cell over seeds: an accuracy with its 95 % interval when the test
    sizes ``ns`` are given, any other measure as mean ± std."""
    if ns is not None:
        interval = accuracy_interval([float(v) for v in values], [int(n) if pd.notna(n) else 0 for n in ns])
        return interval.value, format_interval(interval, decimals)
    present = pd.Series(values, dtype=float).dropna()
    mean = present.mean() if len(present) else float("nan")
    return mean, table_cell(mean, present.std(), len(present), decimals)


def robustness_markdown(table: pd.DataFrame, attack: str) -> str:
    """Pivot: a row per (source, arch, eps, method), a column per test radius, each accuracy with
    its 95 % interval, best value of each column per source in bold."""
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
    return render_markdown(
        sections, f"Accuracy in % on the source test split; robust = {attack}. Best per column in bold. {INTERVAL_NOTE}"
    )


TRANSFER_KEYS = MODEL_KEYS + ["target", "mode"]
ROBUST_PREFIX = "robust_acc@"


def transfer_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy table, one row per (model, target, mode): clean accuracy and its test images, robust
    accuracy at the source model's ε (``robust_acc``, empty for standard models) and at every
    attack radius, with the images attacked (no rows, with those columns, when nothing was
    transferred)."""
    rows = []
    for rec in records:
        row = {k: rec[k] for k in TRANSFER_KEYS}
        row["clean_acc"] = rec["clean_acc"]
        row["n_test"] = rec["n_test"]
        row["robust_acc"] = rec["robust_acc"].get(f"{float(rec['eps']):g}", float("nan"))
        row["n_attacked"] = rec.get("n_attacked", float("nan"))
        row.update({f"{ROBUST_PREFIX}{eps}": acc for eps, acc in rec["robust_acc"].items()})
        rows.append(row)
    fixed = ["clean_acc", "n_test", "robust_acc", "n_attacked"]
    frame = pd.DataFrame(rows, columns=None if rows else [*TRANSFER_KEYS, *fixed])
    radii = sorted(
        (c for c in frame.columns if c.startswith(ROBUST_PREFIX)), key=lambda c: float(c[len(ROBUST_PREFIX) :])
    )
    order = ["source", "arch", "target", "mode", "eps", "method", "seed"]
    frame = frame.sort_values(order, key=_mode_first_linear, ignore_index=True)
    return frame[TRANSFER_KEYS + fixed + radii]


def _mode_first_linear(column: pd.Series) -> pd.Series:
    """Sort key putting the linear probe before fine-tuning depths."""
    return column.replace("linear", "0linear") if column.name == "mode" else column


def pivot_sections(
    long: pd.DataFrame,
    rows: Sequence[str],
    value: str,
    lower_is_better: bool = False,
    decimals: int = 1,
    n_column: str | None = None,
) -> list[tuple[str, pd.DataFrame]]:
    """One (title, table of strings) per (source, arch): a row per value of ``rows``, a column per
    model (by ε, then method), ``value`` over seeds (an accuracy with its 95 % interval when
    ``n_column`` holds its test sizes, else mean ± std), best of each row in **bold**."""
    keys = ["source", "arch", *rows, "eps", "method"]
    long = long.sort_values(keys, key=_mode_first_linear)
    sections = []
    for (source, arch), block in long.groupby(["source", "arch"], sort=False):
        models = block[["eps", "method"]].drop_duplicates().sort_values(["eps", "method"])
        labels = [model_label(m, e) for e, m in models.itertuples(index=False)]
        table_rows = []
        for row_key, group in block.groupby(list(rows), sort=False):
            row_key = row_key if isinstance(row_key, tuple) else (row_key,)
            by_model = {
                model_label(m, e): summary_cell(g[value], g[n_column] if n_column else None, decimals)
                for (e, m), g in group.groupby(["eps", "method"], sort=False)
            }
            means = pd.Series([mean for mean, _ in by_model.values()], dtype=float)
            best = means.min() if lower_is_better else means.max()
            cells = []
            for label in labels:
                mean, text = by_model.get(label, (float("nan"), "–"))
                cells.append(f"**{text}**" if mean == best else text)
            table_rows.append([f"{k:g}" if isinstance(k, float) else str(k) for k in row_key] + cells)
        sections.append((f"Source: {source} ({arch})", pd.DataFrame(table_rows, columns=[*rows, *labels])))
    return sections


# What a rendered table with no rows says instead (a valid config can ask for none).
NO_ROWS = (
    "No rows: nothing of this kind ran. A model skips the target that is its own source, so targets that are "
    "all sources leave no transfer result and no distance."
)


def render_markdown(sections: Sequence[tuple[str, pd.DataFrame]], note: str) -> str:
    lines = [] if sections else [f"*{NO_ROWS}*", ""]
    for title, frame in sections:
        lines += [f"### {title}", "", "| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.shape[1]]
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
        lines.append("")
    return "\n".join([*lines, note]) + "\n"


def render_html(sections: Sequence[tuple[str, pd.DataFrame]], title: str, note: str) -> str:
    """A standalone page with one table per section (bold marks become <b>)."""
    parts = [f"<h2>{html.escape(title)}</h2>"] + ([] if sections else [f"<p><i>{html.escape(NO_ROWS)}</i></p>"])
    for heading, frame in sections:
        cells = frame.map(lambda s: re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(str(s))))
        parts += [f"<h3>{html.escape(heading)}</h3>", cells.to_html(index=False, escape=False, border=0)]
    parts.append(f"<p>{html.escape(note)}</p>")
    style = (
        "body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse} "
        "th,td{padding:4px 10px;border-bottom:1px solid #ccc;text-align:right} th{background:#f2f2f2}"
    )
    body = "\n".join(parts)
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>\n{body}\n</body></html>\n"
    )


def write_pivots(
    sections: Sequence[tuple[str, pd.DataFrame]], title: str, note: str, md_path: str | Path, html_path: str | Path
) -> None:
    """Write ``sections`` as Markdown and as a standalone HTML page (atomically)."""
    write_text(render_markdown(sections, note), md_path)
    write_text(render_html(sections, title, note), html_path)


def robustness_long(table: pd.DataFrame) -> pd.DataFrame:
    """The robust-accuracy columns of :func:`transfer_table` as rows with a ``test ε`` column
    (``n_attacked`` images each)."""
    radii = [c for c in table.columns if c.startswith(ROBUST_PREFIX)]
    keys = [*TRANSFER_KEYS, "n_attacked"]
    long = table.melt(id_vars=keys, value_vars=radii, var_name="test ε", value_name="accuracy")
    long["test ε"] = long["test ε"].str[len(ROBUST_PREFIX) :].astype(float)
    return long


DISTANCE_KEYS = ["measure", "source", "target"]


def distance_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy table, one row per (measure, source, target): the distance, the domain similarity
    exp(−γ·EMD) (EMD only) and the reference network (no rows when no target is another dataset)."""
    frame = pd.DataFrame(records, columns=None if records else [*DISTANCE_KEYS, "distance", "reference"])
    if "similarity" not in frame:
        frame["similarity"] = float("nan")
    columns = DISTANCE_KEYS + ["distance", "similarity", "reference"]
    return frame.sort_values(DISTANCE_KEYS, ignore_index=True)[columns]


def distance_sections(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One (title, matrix of strings) per measure: a row per source, a column per target."""
    sections = []
    for measure, block in table.groupby("measure", sort=True):
        wide = block.pivot(index="source", columns="target", values="distance")
        cells = wide.map(lambda d: "–" if pd.isna(d) else f"{d:.4g}").reset_index()
        name = "EMD" if measure == "emd" else "Task2Vec"
        title = f"{name} distance (reference: {block['reference'].iloc[0]})"
        sections.append((title, cells.rename_axis(columns=None)))
    return sections


INVERSION_METRICS = {  # column: (title, how images are summarised per model, lower is better, decimals)
    "psnr": ("PSNR (dB) against the original", "mean", False, 1),
    "ssim": ("SSIM against the original", "mean", False, 3),
    "clean_loss": ("||f_w(x̂) − f_w(x)|| / ||f_w(x)||", "mean", True, 3),
    "iterations_to_threshold": (
        "iterations to the loss threshold (median over images that reach it)",
        "median",
        True,
        0,
    ),
    "noise_feature_change": (
        "||f_{w+n}(x) − f_w(x)|| / ||f_w(x)||: how far the posterior's weight noise moves z",
        "mean",
        True,
        3,
    ),
}


def inversion_table(results: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy table, one row per (model, variant, image) of the models' inversion records."""
    rows = [{**{k: res[k] for k in MODEL_KEYS}, **rec} for res in results for rec in res["records"]]
    frame = pd.DataFrame(rows)
    frame["images"] = frame["in_distribution"].map({True: "source", False: "out-of-distribution"})
    order = ["source", "arch", "eps", "method", "seed", "variant", "image"]
    columns = MODEL_KEYS + [
        "variant",
        "images",
        "image",
        "psnr",
        "ssim",
        "clean_loss",
        "final_loss",
        "iterations",
        "converged",
        "loss_change",
        "iterations_to_threshold",
        "noise_feature_change",
        "in_distribution",
    ]
    return frame.sort_values(order, ignore_index=True)[columns]


def inversion_sections(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Pivots of :data:`INVERSION_METRICS`: a row per (variant, images), a column per model."""
    sections = []
    keys = MODEL_KEYS + ["variant", "images"]
    for column, (title, how, lower, decimals) in INVERSION_METRICS.items():
        per_model = table.groupby(keys, sort=False, as_index=False)[column].agg(how)
        for heading, frame in pivot_sections(per_model, ["variant", "images"], column, lower, decimals):
            sections.append((f"{title} — {heading}", frame))
    return sections


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
