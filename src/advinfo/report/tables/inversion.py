"""The inversion quality table (Fig. 1's PSNR, SSIM, losses and iterations)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from advinfo.plan.names import MODEL_KEYS, model_label
from advinfo.report.tables.render import pivot_sections

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
        "fake_relu",
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


def fake_relu_note(table: pd.DataFrame) -> str:
    """A sentence naming the models inverted without the fake last ReLU ('' when there are none):
    their inversions differentiate through a real one, so they are not comparable to the others'."""
    plain = table[~table["fake_relu"].astype(bool)][MODEL_KEYS].drop_duplicates()
    if plain.empty:
        return ""
    names = ", ".join(f"{r.source}/{r.arch} {model_label(r.method, r.eps)}" for r in plain.itertuples(index=False))
    return f" Inverted without the fake ReLU (z is not a pooled ReLU in their architecture): {names}."
