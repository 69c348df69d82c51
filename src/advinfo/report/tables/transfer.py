"""The transfer table (the paper's Tables 1-3): linear probes, fine-tuning, and the robustness of
transferred heads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from advinfo.plan.names import MODEL_KEYS
from advinfo.report.tables.render import mode_first_linear

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
    frame = frame.sort_values(order, key=mode_first_linear, ignore_index=True)
    return frame[TRANSFER_KEYS + fixed + radii]


def robustness_long(table: pd.DataFrame) -> pd.DataFrame:
    """The robust-accuracy columns of :func:`transfer_table` as rows with a ``test ε`` column
    (``n_attacked`` images each)."""
    radii = [c for c in table.columns if c.startswith(ROBUST_PREFIX)]
    keys = [*TRANSFER_KEYS, "n_attacked"]
    long = table.melt(id_vars=keys, value_vars=radii, var_name="test ε", value_name="accuracy")
    long["test ε"] = long["test ε"].str[len(ROBUST_PREFIX) :].astype(float)
    return long
