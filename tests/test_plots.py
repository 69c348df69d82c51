"""Every figure renders from its tidy table and is saved as PDF and PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advinfo.report.figures.distance import plot_gap_vs_distance
from advinfo.report.figures.information import plot_fisher, plot_logvar_vs_eps, plot_tsne, plot_weight_norm
from advinfo.report.figures.inversion import (
    plot_feature_manipulation,
    plot_feature_visualisation,
    plot_inversion_grid,
    plot_inversion_loss,
)
from advinfo.report.figures.shared import save_figure
from advinfo.transfer.gap import gap_table, spearman_table

MODELS = [("standard", 0.0), ("pgd", 0.25), ("pgd", 0.5)]


def _models(**columns) -> pd.DataFrame:
    rows = [{"source": "shapes", "arch": "resnet_mini", "method": m, "eps": e, "seed": 0} for m, e in MODELS]
    return pd.DataFrame(rows).assign(**columns)


def test_information_figures_render_and_save(tmp_path):
    table = _models(mean_logvar=[-7.5, -7.3, -7.2], trace=[100.0, 40.0, 20.0], lambda1=[20.0, 9.0, 5.0])
    check = pd.concat(
        [
            _models(
                probe_eps=e,
                worst_change=[1.0, 1.0, 1.0],
                eps2_lambda1=[1.0, 1.1, 0.9],
                random_change=[0.1] * 3,
                eps2_trace_over_n=[0.1] * 3,
            )
            for e in (0.01, 0.1)
        ]
    )
    metrics = pd.concat([_models(epoch=k, weight_norm=[10.0 + k, 9.0 + k, 8.0 + k]) for k in (1, 2, 3)])
    rng = np.random.default_rng(0)
    points = pd.concat(
        [
            _models()
            .iloc[[i]]
            .merge(
                pd.DataFrame({"x": rng.normal(size=20), "y": rng.normal(size=20), "label": list("ab") * 10}),
                how="cross",
            )
            for i in range(3)
        ]
    )
    figures = {
        "fig4": plot_logvar_vs_eps(table),
        "fig5": plot_weight_norm(metrics),
        "fig6": plot_tsne(points),
        "fisher": plot_fisher(table, check),
    }
    assert len(figures["fig6"].axes) == 3 and len(figures["fisher"].axes) == 3
    assert figures["fig6"].axes[1].get_title().endswith("pgd ε=0.25")
    assert "Fig. 4" in figures["fig4"].axes[0].get_title()
    for name, fig in figures.items():
        save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_gap_vs_distance_writes_spearman_on_each_panel(tmp_path):
    rows = [
        {
            "source": "shapes",
            "arch": "resnet_mini",
            "method": m,
            "eps": e,
            "seed": 0,
            "target": t,
            "mode": "linear",
            "clean_acc": 50.0 + 10 * e * d,
        }
        for m, e in MODELS
        for t, d in (("a", 1.0), ("b", 2.0), ("c", 3.0))
    ]
    distances = pd.DataFrame(
        [
            {"measure": m, "source": "shapes", "target": t, "distance": d * k}
            for m, k in (("emd", 10.0), ("task2vec", 0.1))
            for t, d in (("a", 1.0), ("b", 2.0), ("c", 3.0))
        ]
    )
    gaps = gap_table(pd.DataFrame(rows), distances, "linear")
    fig = plot_gap_vs_distance(gaps, spearman_table(gaps), "shapes")
    assert len(fig.axes) == 2
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "resnet_mini · pgd ε=0.5: Spearman ρ = +1.00, p = 0.33 (n = 3)" in texts and {"a", "b", "c"} <= set(texts)
    save_figure(fig, tmp_path / "g.pdf", tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no transfer gaps for source 'digits'"):
        plot_gap_vs_distance(gaps, spearman_table(gaps), "digits")


def test_inversion_figures_render(tmp_path):
    rng = np.random.default_rng(0)
    variants = ("inversion", "noise_once", "effective")
    data = {
        "originals": rng.random((5, 3, 8, 8)),
        "in_distribution": np.array([True] * 3 + [False] * 2),
        "images": {v: rng.random((5, 3, 8, 8)) for v in variants},
        "loss": {v: np.exp(-np.linspace(0, 3, 20 + i))[:, None] * rng.random((1, 5)) for i, v in enumerate(variants)},
        "feature_vis": {"images": rng.random((4, 3, 8, 8)), "coordinates": np.array([3, 1, 0, 2])},
        "manipulation": {
            "images": rng.random((2, 3, 3, 8, 8)),
            "coordinates": np.array([3, 1]),
            "before": np.ones((2, 3)),
            "after": np.full((2, 3), 2.0),
        },
    }
    models = [("shapes/resnet_mini\nstandard", data), ("shapes/resnet_mini\npgd ε=0.5", data)]
    figures = {
        "fig1": plot_inversion_grid(models),
        "fig2": plot_inversion_loss(models),
        "vis": plot_feature_visualisation(models),
        "manip": plot_feature_manipulation(models),
    }
    assert len(figures["fig1"].axes) == 2 and len(figures["fig2"].axes) == 2
    assert [t.get_text() for t in figures["fig1"].axes[0].get_yticklabels()] == [
        "original",
        "inversion",
        "noise once",
        "effective image",
    ]
    assert [line.get_label() for line in figures["fig2"].axes[0].lines] == [
        "inversion",
        "noise once",
        "effective image",
    ]
    assert [t.get_text() for t in figures["vis"].axes[0].get_xticklabels()] == ["z[3]", "z[1]", "z[0]", "z[2]"]
    manip = figures["manip"].axes[0]
    assert [t.get_text() for t in manip.get_yticklabels()] == ["original", "+ z[3]", "+ z[1]"]
    assert manip.get_title().endswith("z_k ×2.0") and manip.images[0].get_array().shape[:2] == (3 * 9 - 1, 4 * 9 - 1)
    for name, fig in figures.items():
        save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
