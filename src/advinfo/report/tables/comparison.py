"""The training methods side by side at equal ε: clean and robust accuracy on the source, the
transfer gap to the standard model, and the representation vulnerability (worst-case loss of
mutual information) of every model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from advinfo.plan.methods import method_names
from advinfo.plan.names import MODEL_KEYS, format_eps
from advinfo.report.tables.render import summary_cell

ACCURACY_COLUMNS = ("clean_acc", "robust_acc")
COMPARISON_COLUMNS = ["clean_acc", "robust_acc", "transfer_gap", "mi_clean", "mi_adv", "vulnerability"]
HEADERS = {
    "clean_acc": "clean acc. (%)",
    "robust_acc": "robust acc. @ ε (%)",
    "transfer_gap": "transfer gap (points)",
    "mi_clean": "I(X;Z) (nats)",
    "mi_adv": "worst-case I (nats)",
    "vulnerability": "vulnerability (nats)",
}


def _transfer_gaps(transfer: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Per model: the mean over targets of its transfer accuracy (``mode``) minus the standard
    model's of the same source, arch and seed (NaN without targets)."""
    rows = transfer[transfer["mode"] == mode]
    standard = rows[rows["eps"] == 0][["source", "arch", "seed", "target", "clean_acc"]]
    merged = rows.merge(standard, on=["source", "arch", "seed", "target"], suffixes=("", "_standard"))
    merged["transfer_gap"] = merged["clean_acc"] - merged["clean_acc_standard"]
    return merged.groupby(MODEL_KEYS, as_index=False)["transfer_gap"].mean()


def comparison_table(
    robustness: Sequence[dict[str, Any]],
    mutual_info: Sequence[dict[str, Any]],
    transfer: pd.DataFrame | None,
    radii: Sequence[float],
    mode: str,
) -> pd.DataFrame:
    """One row per compared radius ε and model trained at ε (or standard): clean accuracy,
    robust accuracy under PGD at ε, transfer gap, I(X;Z) clean and worst case at ε, and whether
    their critics converged."""
    info = {tuple(r[k] for k in MODEL_KEYS): {row["eps"]: row for row in r["radii"]} for r in mutual_info}
    rows = []
    for eps in map(float, radii):
        for rec in robustness:
            if float(rec["eps"]) not in (0.0, eps):
                continue
            key = tuple(rec[k] for k in MODEL_KEYS)
            mi = info.get(key, {}).get(eps, {})
            rows.append(
                {
                    **dict(zip(MODEL_KEYS, key, strict=True)),
                    "compare_eps": eps,
                    "clean_acc": rec["clean_acc"],
                    "n_test": rec["n_test"],
                    "robust_acc": rec["robust_acc"].get(format_eps(eps), np.nan),
                    **{k: mi.get(k, np.nan) for k in ("mi_clean", "mi_adv", "vulnerability")},
                    "mi_converged": mi.get("converged", np.nan),
                }
            )
    table = pd.DataFrame(rows)
    if table.empty:
        raise ValueError(f"no model is trained at the compared radii {list(radii)} or is standard")
    if transfer is None:
        table["transfer_gap"] = np.nan
    else:  # the standard model's gap is its own accuracy minus itself: 0
        table = table.merge(_transfer_gaps(transfer, mode), on=MODEL_KEYS, how="left")
    order = {m: i for i, m in enumerate(method_names())}
    table = table.sort_values(
        ["source", "arch", "compare_eps", "method", "seed"],
        key=lambda c: c.map(order) if c.name == "method" else c,
        ignore_index=True,
    )
    columns = ["source", "arch", "compare_eps", "method", "eps", "seed", *COMPARISON_COLUMNS, "mi_converged", "n_test"]
    return table[columns]


def comparison_sections(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """One (title, table of strings) per (source, arch, ε): a row per method, accuracies with their
    95 % intervals and the other measures as mean ± std over seeds, the best of each column in
    **bold** (highest; lowest for the vulnerability)."""
    sections = []
    for (source, arch, eps), block in table.groupby(["source", "arch", "compare_eps"], sort=False):
        cells = {
            c: {
                method: summary_cell(g[c], g["n_test"] if c in ACCURACY_COLUMNS else None, decimals=2)
                for method, g in block.groupby("method", sort=False)
            }
            for c in COMPARISON_COLUMNS
        }
        rows = []
        for method in block["method"].unique():
            row = [method]
            for c in COMPARISON_COLUMNS:
                means = [mean for mean, _ in cells[c].values()]
                best = np.nanmin(means) if c == "vulnerability" else np.nanmax(means)
                mean, text = cells[c][method]
                row.append(f"**{text}**" if np.isclose(mean, best) else text)
            rows.append(row)
        columns = ["method", *(HEADERS[c] for c in COMPARISON_COLUMNS)]
        sections.append((f"Source: {source} ({arch}), ε = {eps:g}", pd.DataFrame(rows, columns=columns)))
    return sections
