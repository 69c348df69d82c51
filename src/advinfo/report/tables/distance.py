"""The dataset distances behind Figs. 3 and 7 (EMD, Task2Vec)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

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
