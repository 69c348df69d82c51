"""How every results table is rendered: cells with their intervals, pivots by model, Markdown and
HTML, written atomically."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from advinfo.fileio import write_text
from advinfo.plan.names import model_label
from advinfo.report.intervals import accuracy_interval, format_interval

# What every pivot of accuracies says about its intervals.
INTERVAL_NOTE = (
    "Accuracies carry a 95 % interval: [low, high] is Wilson's for one seed's test images; ± is the "
    "t-interval's half-width over seeds."
)


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


def mode_first_linear(column: pd.Series) -> pd.Series:
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
    long = long.sort_values(keys, key=mode_first_linear)
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
