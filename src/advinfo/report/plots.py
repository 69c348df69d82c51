"""The paper's figures from tidy tables (seaborn on matplotlib's Agg backend; no torch import,
so plotting jobs start fast). Every figure is written as PDF and PNG, atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from advinfo.fileio import atomic_path  # noqa: E402
from advinfo.plan.hyperparameters import STANDARD
from advinfo.plan.names import model_label

sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def model_name(frame: pd.DataFrame) -> pd.Series:
    """The table label of each row's model ('standard' or '<method> ε=<eps>')."""
    return frame.apply(lambda r: model_label(r["method"], r["eps"]), axis=1)


def save_figure(fig: plt.Figure, pdf: str | Path, png: str | Path) -> None:
    for path, kwargs in ((pdf, {}), (png, {"dpi": 150})):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix[1:], bbox_inches="tight", **kwargs)
    plt.close(fig)


def _source_label(frame: pd.DataFrame) -> pd.Series:
    return frame["source"] + " / " + frame["arch"]


def with_standard_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the standard model (ε = 0) repeated under every adversarial method, so each
    method's curve against ε starts from the standard model."""
    standard = frame[frame["method"] == STANDARD]
    methods = [m for m in frame["method"].unique() if m != STANDARD] or [STANDARD]
    copies = [standard.assign(method=m) for m in methods]
    return pd.concat([frame[frame["method"] != STANDARD], *copies], ignore_index=True)


def _legend_outside(fig: plt.Figure) -> None:
    """One legend, right of the last panel (the others drop theirs)."""
    for ax in fig.axes[:-1]:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if fig.axes[-1].get_legend() is not None:
        sns.move_legend(fig.axes[-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)


def plot_logvar_vs_eps(table: pd.DataFrame) -> plt.Figure:
    """Fig. 4: mean log-variance of the weight posterior against the training ε."""
    data = with_standard_baseline(table).assign(model=_source_label)
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    sns.lineplot(data=data, x="eps", y="mean_logvar", hue="model", style="method", marker="o", errorbar="sd", ax=ax)
    ax.set(xlabel="training ε", ylabel="mean log σ² of the weights", title="Information in the weights (Fig. 4)")
    _legend_outside(fig)
    return fig


def plot_weight_norm(metrics: pd.DataFrame) -> plt.Figure:
    """Fig. 5: ||w||₂ per epoch of pretraining, one line per ε."""
    data = metrics.assign(model=model_name(metrics))
    sources = sorted(_source_label(data).unique())
    fig, axes = plt.subplots(1, len(sources), figsize=(4.5 * len(sources), 3.4), squeeze=False)
    for ax, source in zip(axes[0], sources, strict=True):
        sub = data[_source_label(data) == source]
        sns.lineplot(data=sub, x="epoch", y="weight_norm", hue="model", errorbar="sd", ax=ax)
        ax.set(xlabel="epoch", ylabel="‖w‖₂", title=f"Weight norm during training (Fig. 5): {source}")
    _legend_outside(fig)
    return fig


def plot_tsne(points: pd.DataFrame) -> plt.Figure:
    """Fig. 6: t-SNE of source features, one panel per model, coloured by class."""
    data = points.assign(panel=_source_label(points) + "\n" + model_name(points))
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
    data = with_standard_baseline(summary).assign(model=_source_label)
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
    _legend_outside(fig)
    fig.tight_layout()
    return fig


INVERSION_ROWS = {
    "originals": "original",
    "inversion": "inversion",
    "noise_once": "noise once",
    "effective": "effective image",
}


def _mosaic(rows: list[np.ndarray], gap: int = 1) -> np.ndarray:
    """Rows of images (N, 3, H, W) in [0, 1] tiled into one (H', W', 3) picture on white."""
    n, _, h, w = rows[0].shape
    out = np.ones((len(rows) * (h + gap) - gap, n * (w + gap) - gap, 3))
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = image.transpose(1, 2, 0)
    return out


def plot_inversion_grid(models: list[tuple[str, dict]]) -> plt.Figure:
    """Fig. 1: per model, originals, inversion, noise-once inversion and effective images."""
    n = len(models[0][1]["originals"])
    fig, axes = plt.subplots(len(models), 1, figsize=(max(4.0, 0.55 * n + 1.5), 2.3 * len(models)), squeeze=False)
    for ax, (label, data) in zip(axes[:, 0], models, strict=True):
        rows = [data["originals"]] + [data["images"][v] for v in INVERSION_ROWS if v != "originals"]
        picture = _mosaic(rows)
        ax.imshow(picture, interpolation="nearest")
        h = data["originals"].shape[2] + 1
        ax.set_yticks([h * i + h / 2 - 1 for i in range(len(rows))], list(INVERSION_ROWS.values()))
        ax.set_xticks([])
        ax.grid(False)
        n_source = int(np.sum(data["in_distribution"]))
        if n_source < n:  # a line between source and out-of-distribution images
            ax.axvline(n_source * (data["originals"].shape[3] + 1) - 1, color="black", lw=1.5)
        ax.set_title(label, fontsize="medium")
    fig.suptitle("Inversion of representations (Fig. 1); right of the bar: out-of-distribution images", y=1.0)
    fig.tight_layout()
    return fig


def plot_inversion_loss(models: list[tuple[str, dict]]) -> plt.Figure:
    """Fig. 2: normalised inversion loss against iterations, the three variants, per model
    (mean over images, band from the 25th to the 75th percentile)."""
    fig, axes = plt.subplots(1, len(models), figsize=(3.8 * len(models), 3.3), squeeze=False, sharey=True)
    colours = dict(zip(("inversion", "noise_once", "effective"), sns.color_palette("tab10", 3), strict=True))
    for ax, (label, data) in zip(axes[0], models, strict=True):
        for variant in colours:
            losses = data["loss"][variant]
            it = np.arange(len(losses))
            ax.plot(it, losses.mean(1), color=colours[variant], label=INVERSION_ROWS[variant])
            ax.fill_between(it, *np.percentile(losses, [25, 75], axis=1), color=colours[variant], alpha=0.2, lw=0)
        ax.set(yscale="log", xlabel="iteration", title=label)
    axes[0, 0].set_ylabel("‖f(x′) − z̄‖ / ‖z̄‖")
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.suptitle("Inversion loss against iterations (Fig. 2)", y=1.02)
    fig.tight_layout()
    return fig


def plot_feature_visualisation(models: list[tuple[str, dict]]) -> plt.Figure:
    """Per model, images maximising single coordinates of z (Engstrom et al. 2019)."""
    k = len(models[0][1]["feature_vis"]["images"])
    fig, axes = plt.subplots(len(models), 1, figsize=(max(3.5, 0.8 * k + 1.5), 2.0 * len(models)), squeeze=False)
    for ax, (label, data) in zip(axes[:, 0], models, strict=True):
        vis = data["feature_vis"]
        picture = _mosaic([vis["images"]])
        ax.imshow(picture, interpolation="nearest")
        w = vis["images"].shape[3] + 1
        ax.set_xticks(
            [w * i + w / 2 - 1 for i in range(len(vis["coordinates"]))],
            [f"z[{c}]" for c in vis["coordinates"]],
            fontsize="small",
        )
        ax.set_yticks([])
        ax.grid(False)
        ax.set_title(label, fontsize="medium")
    fig.suptitle("Feature visualisation: images maximising one coordinate of z", y=1.0)
    fig.tight_layout()
    return fig


def plot_feature_manipulation(models: list[tuple[str, dict]]) -> plt.Figure:
    """Per model: the source images (top row), then per coordinate k its visualisation (left)
    and each image with z_k raised within the pixel budget (Engstrom et al. 2019)."""
    first = models[0][1]["manipulation"]["images"]
    n_coord, n_img = first.shape[:2]
    fig, axes = plt.subplots(
        len(models),
        1,
        figsize=(max(3.5, 0.75 * (n_img + 1) + 1.8), 0.75 * (n_coord + 1) * len(models) + 0.6),
        squeeze=False,
    )
    for ax, (label, data) in zip(axes[:, 0], models, strict=True):
        manip, vis = data["manipulation"], data["feature_vis"]
        originals = data["originals"][:n_img]
        blank = np.ones_like(originals[:1])
        rows = [np.concatenate([blank, originals])]
        for k, coordinate in enumerate(manip["coordinates"]):
            shown = vis["images"][list(vis["coordinates"]).index(coordinate)][None]
            rows.append(np.concatenate([shown, manip["images"][k]]))
        ax.imshow(_mosaic(rows), interpolation="nearest")
        h = originals.shape[2] + 1
        ax.set_yticks(
            [h * i + h / 2 - 1 for i in range(len(rows))],
            ["original"] + [f"+ z[{c}]" for c in manip["coordinates"]],
            fontsize="small",
        )
        ax.set_xticks([h / 2 - 1], ["feature"], fontsize="small")
        ax.grid(False)
        ax.set_title(
            f"{label}; z_k ×{np.mean(manip['after'] / np.maximum(manip['before'], 1e-6)):.1f}", fontsize="medium"
        )
    fig.suptitle("Feature manipulation: one coordinate of z raised within an L2 pixel budget", y=1.0)
    fig.tight_layout()
    return fig


COMPARED = (
    ("clean_acc", "clean accuracy (%)"),
    ("robust_acc", "robust accuracy at ε (%)"),
    ("transfer_gap", "transfer gap to standard (points)"),
    ("vulnerability", "vulnerability (nats)"),
)


def plot_method_comparison(table: pd.DataFrame) -> plt.Figure:
    """Training methods at equal ε: a row of panels per source / arch, a bar per method and
    compared ε (mean over seeds, with their spread)."""
    data = table.assign(model=_source_label(table), radius=table["compare_eps"].map(lambda e: f"ε = {e:g}"))
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
    _legend_outside(fig)
    fig.suptitle("Training methods compared at equal ε", y=1.02)
    fig.tight_layout()
    return fig
