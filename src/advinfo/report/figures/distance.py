"""The transfer gap against dataset distance (the paper's Figs. 3 and 7), Spearman's ρ on the
plot."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from advinfo.report.figures.shared import legend_outside, model_name


def _rank_text(rho: float, p: float, n: int) -> str:
    return f"Spearman ρ = {rho:+.2f}, p = {p:.2g} (n = {n})" if pd.notna(rho) else f"Spearman ρ undefined (n = {n})"


def plot_gap_vs_distance(gaps: pd.DataFrame, spearman: pd.DataFrame, source: str) -> plt.Figure:
    """Figs. 3 and 7: per target, the robust-minus-standard accuracy gap against the distance
    from ``source``, a panel per distance measure, Spearman's ρ and p of each model written on it."""
    data = gaps[gaps["source"] == source].assign(model=lambda f: f["arch"] + " · " + model_name(f))
    ranks = spearman[spearman["source"] == source].assign(model=lambda f: f["arch"] + " · " + model_name(f))
    measures = sorted(data["measure"].unique())
    if not measures:
        raise ValueError(f"no transfer gaps for source {source!r}: the grid needs a standard and a robust model")
    models = list(dict.fromkeys(data.sort_values(["arch", "eps", "method"])["model"]))
    palette = dict(zip(models, sns.color_palette("flare", len(models)), strict=True))
    fig, axes = plt.subplots(1, len(measures), figsize=(5.2 * len(measures), 4.2), squeeze=False)
    for ax, measure in zip(axes[0], measures, strict=True):
        sub = data[data["measure"] == measure].sort_values("distance")
        ax.axhline(0.0, color="grey", lw=0.8, zorder=0)
        sns.lineplot(
            data=sub,
            x="distance",
            y="gap",
            hue="model",
            hue_order=models,
            palette=palette,
            marker="o",
            markersize=7,
            sort=True,
            estimator=None,
            ax=ax,
        )
        for target, point in sub.groupby("target"):
            ax.annotate(
                target,
                (point["distance"].iloc[0], point["gap"].max()),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize="small",
            )
        lines = [
            (f"{r.model}: {_rank_text(r.rho, r.p_value, r.n_targets)}", palette[r.model])
            for r in ranks[ranks["measure"] == measure].itertuples()
        ]
        for i, (text, colour) in enumerate(lines):  # below the axes, clear of the points
            ax.text(0.0, -0.2 - 0.075 * i, text, transform=ax.transAxes, va="top", fontsize="small", color=colour)
        name = "EMD (Cui et al.)" if measure == "emd" else "Task2Vec distance"
        ax.set(
            xlabel=f"{name} from {source}",
            ylabel="accuracy gap, robust − standard (points)",
            title=f"{source} → targets: {name}",
        )
        ax.margins(x=0.12, y=0.15)
    legend_outside(fig)
    fig.tight_layout()
    return fig
