"""The training methods compared at equal ε: accuracy, transfer gap and vulnerability per method."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from advinfo.report.figures.shared import legend_outside, source_label

COMPARED = (
    ("clean_acc", "clean accuracy (%)"),
    ("robust_acc", "robust accuracy at ε (%)"),
    ("transfer_gap", "transfer gap to standard (points)"),
    ("vulnerability", "vulnerability (nats)"),
)


def plot_method_comparison(table: pd.DataFrame) -> plt.Figure:
    """Training methods at equal ε: a row of panels per source / arch, a bar per method and
    compared ε (mean over seeds, with their spread)."""
    data = table.assign(model=source_label(table), radius=table["compare_eps"].map(lambda e: f"ε = {e:g}"))
    models = list(dict.fromkeys(data["model"]))
    fig, axes = plt.subplots(
        len(models), len(COMPARED), figsize=(3.6 * len(COMPARED), 3.2 * len(models)), squeeze=False
    )
    for row, model in zip(axes, models, strict=True):
        sub = data[data["model"] == model]
        for ax, (column, label) in zip(row, COMPARED, strict=True):
            sns.barplot(data=sub, x="method", y=column, hue="radius", errorbar="sd", ax=ax)
            ax.set(xlabel="", ylabel=label, title=f"{model}: {label.split(' (')[0]}")
            ax.tick_params(axis="x", rotation=30)
            if column in ("transfer_gap", "vulnerability"):
                ax.axhline(0.0, color="grey", lw=0.8)
    legend_outside(fig)
    fig.suptitle("Training methods compared at equal ε", y=1.02)
    fig.tight_layout()
    return fig
