"""Tidy result tables and their paper-style renderings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

MODEL_KEYS = ["source", "arch", "method", "eps", "seed"]


def robustness_table(records: Sequence[dict[str, Any]], final_norms: Sequence[float]) -> pd.DataFrame:
    """Long table: one row per model and test radius (test_eps 0 = clean accuracy)."""
    rows = []
    for rec, norm in zip(records, final_norms, strict=True):
        model = {k: rec[k] for k in MODEL_KEYS}
        rows.append({**model, "test_eps": 0.0, "accuracy": rec["clean_acc"], "weight_norm": norm})
        for eps, acc in rec["robust_acc"].items():
            rows.append({**model, "test_eps": float(eps), "accuracy": acc, "weight_norm": norm})
    order = ["source", "arch", "eps", "method", "seed", "test_eps"]
    return pd.DataFrame(rows).sort_values(order, ignore_index=True)[MODEL_KEYS + ["test_eps", "accuracy", "weight_norm"]]


def _mean_std(values: pd.Series) -> str:
    if len(values) == 1:
        return f"{values.iloc[0]:.1f}"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}"


def robustness_markdown(table: pd.DataFrame) -> str:
    """Pivot: a row per (source, arch, eps, method), a column per test radius, mean ± std
    over seeds, best value of each column per source in bold."""
    keys = ["source", "arch", "eps", "method"]
    wide = table.pivot_table(index=keys + ["seed"], columns="test_eps", values="accuracy").reset_index()
    eps_cols = [c for c in wide.columns if isinstance(c, float)]
    header = ["arch", "method", "train ε", "seeds"] + ["clean" if e == 0 else f"robust @ ε={e:g}" for e in eps_cols]
    lines = []
    for source, block in wide.groupby("source", sort=True):
        means = block.groupby(keys)[eps_cols].mean()
        best = means.max()
        lines += [f"### Source: {source}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for key, group in block.groupby(keys, sort=True):
            _, arch, eps, method = key
            cells = [arch, method, f"{eps:g}", str(len(group))]
            for e in eps_cols:
                text = _mean_std(group[e])
                cells.append(f"**{text}**" if means.loc[key, e] == best[e] else text)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("Accuracy in % on the source test split; robust = PGD with random start "
                 "(worst iterate kept). Best per column in bold.")  # fmt: skip
    return "\n".join(lines) + "\n"
