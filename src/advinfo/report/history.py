"""The per-epoch training history of a model (its ``metrics.csv``), read so that a truncated or
foreign file is refused, naming it, instead of quietly giving the final ‖w‖ of another epoch.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from advinfo.fileio import read_csv

# One row per epoch, as train.train writes it. The accuracies are empty for wcmi (no labels).
COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "clean_acc",
    "robust_acc",
    "weight_norm",
    "epoch_seconds",
    "images_per_s",
)
ALWAYS_SET = ("epoch", "lr", "train_loss", "weight_norm", "epoch_seconds", "images_per_s")
# An imported model's one row: the epoch its checkpoint records (when it does) and its ‖w‖.
IMPORTED_COLUMNS = ("epoch", "weight_norm")


def read_history(path: str | Path, epochs: int | None) -> pd.DataFrame:
    """The history in ``path``: of a pretrained model with ``epochs`` rows, epochs 1 to ``epochs``
    and every column set; of an imported model (``epochs`` None), one row with its weight norm."""
    frame = read_csv(path)
    columns, always = (COLUMNS, ALWAYS_SET) if epochs is not None else (IMPORTED_COLUMNS, ("weight_norm",))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing} — expected {', '.join(columns)}; delete it and rerun")
    if epochs is None and len(frame) != 1:
        raise ValueError(f"{path} has {len(frame)} rows — expected the one row of an imported model")
    if epochs is not None and frame["epoch"].tolist() != list(range(1, epochs + 1)):
        raise ValueError(
            f"{path} has the epochs {frame['epoch'].tolist()} — expected 1 to {epochs} "
            f"(pretrain.epochs); it is truncated or from another run: delete it and rerun"
        )
    empty = [c for c in always if frame[c].isna().any()]
    if empty:
        raise ValueError(f"{path} has empty values in {empty}; it is truncated: delete it and rerun")
    return frame
