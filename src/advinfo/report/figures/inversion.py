"""The inversion figures: originals and their inversions (Fig. 1), loss curves (Fig. 2), feature
visualisation and manipulation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

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
