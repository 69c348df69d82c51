"""What every figure shares: model names, the standard model as every method's baseline, one
legend outside the panels, and PDF and PNG written atomically (seaborn on matplotlib's Agg
backend; no torch import, so plotting jobs start fast)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")


import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from advinfo.fileio import atomic_path  # noqa: E402
from advinfo.plan.methods import STANDARD
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


def source_label(frame: pd.DataFrame) -> pd.Series:
    return frame["source"] + " / " + frame["arch"]


def with_standard_baseline(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the standard model (ε = 0) repeated under every adversarial method, so each
    method's curve against ε starts from the standard model."""
    standard = frame[frame["method"] == STANDARD]
    methods = [m for m in frame["method"].unique() if m != STANDARD] or [STANDARD]
    copies = [standard.assign(method=m) for m in methods]
    return pd.concat([frame[frame["method"] != STANDARD], *copies], ignore_index=True)


def legend_outside(fig: plt.Figure) -> None:
    """One legend, right of the last panel (the others drop theirs)."""
    for ax in fig.axes[:-1]:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if fig.axes[-1].get_legend() is not None:
        sns.move_legend(fig.axes[-1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
