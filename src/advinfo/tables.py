"""Tidy result tables and their paper-style renderings."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from advinfo.fileio import write_text
from advinfo.grid import MODEL_KEYS, model_label


def robustness_table(records: Sequence[dict[str, Any]], final_norms: Sequence[float]) -> pd.DataFrame:
    """Long table: one row per model and test radius (test_eps 0 = clean accuracy)."""
    rows = []
    for rec, norm in zip(records, final_norms, strict=True):
        model = {k: rec[k] for k in MODEL_KEYS}
        rows.append({**model, "test_eps": 0.0, "accuracy": rec["clean_acc"], "weight_norm": norm})
        for eps, acc in rec["robust_acc"].items():
            rows.append({**model, "test_eps": float(eps), "accuracy": acc, "weight_norm": norm})
    order = ["source", "arch", "eps", "method", "seed", "test_eps"]
    return pd.DataFrame(rows).sort_values(order, ignore_index=True)[
        MODEL_KEYS + ["test_eps", "accuracy", "weight_norm"]
    ]


def table_cell(mean: float, std: float, count: int, decimals: int = 1) -> str:
    """A table cell: the mean, ± the std over seeds when there are several; a dash if absent."""
    if pd.isna(mean):
        return "–"
    return f"{mean:.{decimals}f}" if count == 1 else f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def robustness_markdown(table: pd.DataFrame) -> str:
    """Pivot: a row per (source, arch, eps, method), a column per test radius, mean ± std
    over seeds, best value of each column per source in bold."""
    keys = ["source", "arch", "eps", "method"]
    wide = table.pivot_table(index=keys + ["seed"], columns="test_eps", values="accuracy").reset_index()
    eps_cols = [c for c in wide.columns if isinstance(c, float)]
    header = ["arch", "method", "train ε", "seeds"] + ["clean" if e == 0 else f"robust @ ε={e:g}" for e in eps_cols]
    sections = []
    for source, block in wide.groupby("source", sort=True):
        stats = block.groupby(keys)[eps_cols].agg(["mean", "std", "count"])
        best = stats.xs("mean", axis=1, level=1).max()
        rows = []
        for (_, arch, eps, method), row in stats.iterrows():
            cells = [arch, method, f"{eps:g}", str(int(row[(eps_cols[0], "count")]))]
            for e in eps_cols:
                text = table_cell(row[(e, "mean")], row[(e, "std")], row[(e, "count")])
                cells.append(f"**{text}**" if row[(e, "mean")] == best[e] else text)
            rows.append(cells)
        sections.append((f"Source: {source}", pd.DataFrame(rows, columns=header)))
    return render_markdown(
        sections,
        "Accuracy in % on the source test split; robust = PGD with random start "
        "(worst iterate kept). Best per column in bold.",
    )


TRANSFER_KEYS = MODEL_KEYS + ["target", "mode"]
ROBUST_PREFIX = "robust_acc@"


def transfer_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy table, one row per (model, target, mode): clean accuracy, robust accuracy at the
    source model's ε (``robust_acc``, empty for standard models) and at every attack radius
    (no rows, with those columns, when nothing was transferred)."""
    rows = []
    for rec in records:
        row = {k: rec[k] for k in TRANSFER_KEYS}
        row["clean_acc"] = rec["clean_acc"]
        row["robust_acc"] = rec["robust_acc"].get(f"{float(rec['eps']):g}", float("nan"))
        row.update({f"{ROBUST_PREFIX}{eps}": acc for eps, acc in rec["robust_acc"].items()})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else [*TRANSFER_KEYS, "clean_acc", "robust_acc"])
    radii = sorted(
        (c for c in frame.columns if c.startswith(ROBUST_PREFIX)), key=lambda c: float(c[len(ROBUST_PREFIX) :])
    )
    order = ["source", "arch", "target", "mode", "eps", "method", "seed"]
    frame = frame.sort_values(order, key=_mode_first_linear, ignore_index=True)
    return frame[TRANSFER_KEYS + ["clean_acc", "robust_acc"] + radii]


def _mode_first_linear(column: pd.Series) -> pd.Series:
    """Sort key putting the linear probe before fine-tuning depths."""
    return column.replace("linear", "0linear") if column.name == "mode" else column


def pivot_sections(
    long: pd.DataFrame, rows: Sequence[str], value: str, lower_is_better: bool = False, decimals: int = 1
) -> list[tuple[str, pd.DataFrame]]:
    """One (title, table of strings) per (source, arch): a row per value of ``rows``, a column per
    model (by ε, then method), mean ± std of ``value`` over seeds, best of each row in **bold**."""
    keys = ["source", "arch", *rows, "eps", "method"]
    long = long.sort_values(keys, key=_mode_first_linear)
    stats = long.groupby(keys, sort=False)[value].agg(["mean", "std", "count"]).reset_index()
    sections = []
    for (source, arch), block in stats.groupby(["source", "arch"], sort=False):
        models = block[["eps", "method"]].drop_duplicates().sort_values(["eps", "method"])
        labels = [model_label(m, e) for e, m in models.itertuples(index=False)]
        table_rows = []
        for row_key, group in block.groupby(list(rows), sort=False):
            row_key = row_key if isinstance(row_key, tuple) else (row_key,)
            by_model = {
                model_label(m, e): (mean, std, n)
                for e, m, mean, std, n in group[["eps", "method", "mean", "std", "count"]].itertuples(index=False)
            }
            best = group["mean"].min() if lower_is_better else group["mean"].max()
            cells = []
            for label in labels:
                mean, std, n = by_model.get(label, (float("nan"), float("nan"), 0))
                text = table_cell(mean, std, n, decimals)
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
    """The robust-accuracy columns of :func:`transfer_table` as rows with a ``test ε`` column."""
    radii = [c for c in table.columns if c.startswith(ROBUST_PREFIX)]
    long = table.melt(id_vars=TRANSFER_KEYS, value_vars=radii, var_name="test ε", value_name="accuracy")
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
