"""The information figures: weight log-variance against ε (Fig. 4), the weight norm per epoch
(Fig. 5), t-SNE (Fig. 6) and the Fisher of z about x."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from advinfo.report.figures.shared import legend_outside, model_name, source_label, with_standard_baseline


def plot_logvar_vs_eps(table: pd.DataFrame) -> plt.Figure:
    """Fig. 4: mean log-variance of the weight posterior against the training ε."""
    data = with_standard_baseline(table).assign(model=source_label)
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    sns.lineplot(data=data, x="eps", y="mean_logvar", hue="model", style="method", marker="o", errorbar="sd", ax=ax)
    ax.set(xlabel="training ε", ylabel="mean log σ² of the weights", title="Information in the weights (Fig. 4)")
    legend_outside(fig)
    return fig


def plot_weight_norm(metrics: pd.DataFrame) -> plt.Figure:
    """Fig. 5: ||w||₂ per epoch of pretraining, one line per ε."""
    data = metrics.assign(model=model_name(metrics))
    sources = sorted(source_label(data).unique())
    fig, axes = plt.subplots(1, len(sources), figsize=(4.5 * len(sources), 3.4), squeeze=False)
    for ax, source in zip(axes[0], sources, strict=True):
        sub = data[source_label(data) == source]
        sns.lineplot(data=sub, x="epoch", y="weight_norm", hue="model", errorbar="sd", ax=ax)
        ax.set(xlabel="epoch", ylabel="‖w‖₂", title=f"Weight norm during training (Fig. 5): {source}")
    legend_outside(fig)
    return fig


def plot_tsne(points: pd.DataFrame) -> plt.Figure:
    """Fig. 6: t-SNE of source features, one panel per model, coloured by class."""
    data = points.assign(panel=source_label(points) + "\n" + model_name(points))
    panels = list(dict.fromkeys(data.sort_values(["source", "arch", "eps", "method"])["panel"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    palette = sns.color_palette("tab10" if data["label"].nunique() <= 10 else "husl", data["label"].nunique())
    for ax, panel in zip(axes[0], panels, strict=True):
        sub = data[data["panel"] == panel]
        sns.scatterplot(data=sub, x="x", y="y", hue="label", palette=palette, s=8, linewidth=0, legend=False, ax=ax)
        ax.set(title=panel, xticks=[], yticks=[], xlabel="", ylabel="")
    fig.suptitle("t-SNE of the representation, coloured by class (Fig. 6)", y=1.1)
    return fig


def plot_fisher(summary: pd.DataFrame, check: pd.DataFrame) -> plt.Figure:
    """tr F and λ₁ against the training ε, and the Prop. 0.3 ratios against the probe ε."""
    data = with_standard_baseline(summary).assign(model=source_label)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, column, label in ((axes[0], "trace", "tr F = ‖J‖²_F"), (axes[1], "lambda1", "λ₁ of JᵀJ")):
        sns.lineplot(data=data, x="eps", y=column, hue="model", style="method", marker="o", errorbar="sd", ax=ax)
        ax.set(xlabel="training ε", ylabel=label, yscale="log", title=f"{label} of z about x")
    ratios = pd.concat(
        [
            check.assign(ratio=check["worst_change"] / check["eps2_lambda1"], kind="worst δ / ε²λ₁"),
            check.assign(ratio=check["random_change"] / check["eps2_trace_over_n"], kind="random δ / ε²·tr/n"),
        ]
    )
    ratios = ratios.assign(model=model_name(ratios))
    sns.lineplot(
        data=ratios, x="probe_eps", y="ratio", hue="model", style="kind", marker="o", errorbar="sd", ax=axes[2]
    )
    axes[2].axhline(1.0, color="grey", lw=0.8)
    axes[2].set(xscale="log", xlabel="‖δ‖₂", ylabel="‖z(x+δ) − z(x)‖² / prediction", title="Prop. 0.3 check")
    for ax in axes[:2]:
        ax.legend(fontsize="small")
    sns.move_legend(axes[2], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.tight_layout()
    return fig
