"""The tiny config's run (tests/conftest.py: tiny_run, with one imported model), checked stage by
stage, and what a rerun, an edit or a forced figure executes."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import planned_jobs, snakemake

pytestmark = pytest.mark.slow
MODEL = "results/pretrain/digits/resnet_mini/pgd-eps0.5-seed0"


def run(tiny_run: Path, *args: str):
    return snakemake(tiny_run, *args, snakefile=tiny_run / "Snakefile", overlays=(tiny_run / "imported.yaml",))


def test_every_model_is_pretrained_evaluated_and_tabled(tiny_run: Path) -> None:
    table = pd.read_csv(tiny_run / "results/tables/pretrain_robustness.csv").query("source == 'digits'")
    assert sorted(table["method"].unique()) == ["arat", "pgd", "standard", "trades", "wcmi"]
    assert sorted(table["test_eps"].unique()) == [0.0, 0.5, 1.0]
    assert len(table) == 5 * 3
    markdown = (tiny_run / "results/tables/pretrain_robustness.md").read_text()
    assert "### Source: digits" in markdown and "robust @ ε=0.5" in markdown
    metrics = pd.read_csv(tiny_run / MODEL / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    assert {"train_loss", "clean_acc", "robust_acc", "weight_norm"} <= set(metrics.columns)
    log = (tiny_run / "results/logs/pretrain/digits/resnet_mini/pgd-eps0.5-seed0.log").read_text()
    assert "epoch 2/2" in log
    assert not list(tiny_run.rglob("resume*.pt")), "resume state must be removed after success"
    state = torch.load(tiny_run / MODEL / "model.pt", weights_only=True)
    assert state["meta"]["train"]["eps"] == 0.5 and len(state["meta"]["weights_sha256"]) == 64


def test_robustness_is_autoattack_with_masking_checks_and_intervals(tiny_run: Path) -> None:
    record = json.loads((tiny_run / MODEL / "robustness.json").read_text())
    assert record["attack"]["name"] == "autoattack" and record["attack"]["iterations"] == 3
    assert record["n_test"] == 100 and set(record["robust_acc"]) == {"0.5", "1"}
    masking = json.loads((tiny_run / MODEL / "masking.json").read_text())
    assert masking["check_eps"] == 0.5 and masking["n_test"] == 50
    assert set(masking["accuracy"]) == {"clean", "pgd", "pgd_strong", "single_step", "square", "large_eps"}
    table = pd.read_csv(tiny_run / "results/tables/gradient_masking.csv")
    assert len(table) == 6 and table["passed"].dtype == bool  # five trained models and the imported one
    pivot = (tiny_run / "results/tables/pretrain_robustness.md").read_text()
    assert "robust = AutoAttack" in pivot and " [" in pivot  # every accuracy with its Wilson interval
    linear = (tiny_run / "results/tables/transfer_linear.md").read_text()
    assert "Wilson" in linear and " [" in linear


def test_the_claims_table_and_the_landing_page(tiny_run: Path) -> None:
    claims = pd.read_csv(tiny_run / "results/tables/claims.csv")
    assert set(claims["verdict"]) <= {"PASS", "FAIL", "INCONCLUSIVE"}
    assert {"clean_falls", "robust_rises", "trace_falls", "logvar_rises", "robust_heads"} <= set(claims["claim"])
    assert set(claims["source"]) == {"digits"}  # the imported source has no standard model to compare with
    overview = (tiny_run / "results/report/overview.rst").read_text()
    assert "What ran" in overview and "The paper's claims on this run" in overview and "git " in overview
    assert "Gradient masking" in overview and "Convergence" in overview
    # Every estimate that ran out of budget is on the landing page, and a claim on it is INCONCLUSIVE
    info = pd.read_csv(tiny_run / "results/tables/information.csv").query("source == 'digits'")
    for rec in info[~info["posterior_converged"]].itertuples():
        label = "standard" if rec.eps == 0 else f"{rec.method} ε={rec.eps:g}"
        assert f"weight posterior of digits/resnet_mini {label} seed 0" in overview
    logvar = claims[claims["claim"] == "logvar_rises"].iloc[0]
    compared = info[(info["eps"] == 0) | ((info["method"] == "pgd") & (info["eps"] == info["eps"].max()))]
    if not compared["posterior_converged"].all():
        assert logvar["verdict"] == "INCONCLUSIVE" and "not converged: the posterior of" in logvar["measured"]
    inversion = pd.read_csv(tiny_run / "results/tables/inversion.csv")
    assert inversion["converged"].isin([True, False]).all() and (inversion["iterations"] <= 100).all()


def test_a_second_run_does_nothing(tiny_run: Path) -> None:
    again = run(tiny_run)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stderr + again.stdout


def test_edits_rerun_only_the_jobs_they_touch(tiny_run: Path) -> None:
    """A table script, a figure script, -f on one figure, and a library module of the tables."""
    edited = [tiny_run / "workflow/scripts/transfer_table.py", tiny_run / "workflow/scripts/plot_tsne.py"]
    originals = {path: path.read_text() for path in edited}
    library = tiny_run / "src/advinfo/report/tables/render.py"
    original_library = library.read_text()
    try:
        edited[0].write_text(originals[edited[0]] + "# an edit to the table rendering\n")
        # read transfer.csv (and distance.csv)
        downstream = {"gap_distance_table": 1, "plot_gap_distance": 1, "method_comparison": 1}
        downstream |= {"plot_method_comparison": 1, "claims": 1}
        assert planned_jobs(run(tiny_run, "-n")) == {"transfer_table": 1, **downstream, "default": 1}
        assert run(tiny_run).returncode == 0
        edited[1].write_text(originals[edited[1]] + "# an edit to one figure\n")
        assert planned_jobs(run(tiny_run, "-n")) == {"plot_tsne": 1, "default": 1}
        assert run(tiny_run).returncode == 0
        figure = tiny_run / "results/figures/fig4_weight_logvar.png"
        before = figure.stat().st_mtime_ns
        forced = run(tiny_run, "-f", "results/figures/fig4_weight_logvar.png")
        assert forced.returncode == 0 and "1 of 1 steps (100%) done" in forced.stderr, "-f re-executes exactly one job"
        assert "rule plot_weight_logvar:" in forced.stderr and figure.stat().st_mtime_ns > before
        library.write_text(original_library + "# an edit to the library\n")
        tables = ("pretrain_table", "transfer_table", "distance_table", "inversion_table", "method_comparison")
        tables += ("masking_table",)
        assert planned_jobs(run(tiny_run, "-n")) == {**dict.fromkeys(tables, 1), **downstream, "default": 1}
    finally:
        library.write_text(original_library)
    after = run(tiny_run, "-n")
    assert "Nothing to be done" in after.stdout + after.stderr, "restoring the module must leave nothing to do"


def test_every_method_is_compared_at_the_shared_radius(tiny_run: Path) -> None:
    workdir = tiny_run
    table = pd.read_csv(workdir / "results/tables/method_comparison.csv")
    assert list(table["method"]) == ["standard", "pgd", "trades", "arat", "wcmi"] and set(table["compare_eps"]) == {0.5}
    assert table[["clean_acc", "robust_acc", "transfer_gap", "mi_clean", "mi_adv"]].notna().all().all()
    assert (table["vulnerability"] == table["mi_clean"] - table["mi_adv"]).all()
    info = json.loads((workdir / "results/pretrain/digits/resnet_mini/wcmi-eps0.5-seed0/mutual_info.json").read_text())
    assert [row["eps"] for row in info["radii"]] == [0.5] and info["n_images"] == 60
    wcmi = torch.load(workdir / "results/pretrain/digits/resnet_mini/wcmi-eps0.5-seed0/model.pt", weights_only=True)
    assert wcmi["meta"]["head"] == "linear probe"
    assert "Source: digits (resnet_mini), ε = 0.5" in (workdir / "results/tables/method_comparison.html").read_text()
    assert (workdir / "results/figures/method_comparison.png").stat().st_size > 10_000


def test_information_measures_of_every_model(tiny_run: Path) -> None:
    workdir = tiny_run
    info = pd.read_csv(workdir / "results/tables/information.csv").query("source == 'digits'")
    assert len(info) == 5 and (info["trace"] >= info["lambda1"]).all() and (info["lambda1"] > 0).all()
    assert info["mean_logvar"].between(-20, 0).all()
    assert (info["posterior_ce"] - info["posterior_ce_clean"] < 1.0).all() and info["posterior_acc"].between(0, 1).all()
    assert info["posterior_epochs"].between(2, 2).all()  # the tiny budget
    fisher = json.loads((workdir / MODEL / "fisher.json").read_text())
    assert fisher["n_images"] == 4 and fisher["prop03"][0]["eps"] == 0.05
    merged = json.loads((workdir / MODEL / "information.json").read_text())
    assert merged["trace"] == fisher["trace"] and merged["eps"] == 0.5 and len(merged["weight_norm_per_epoch"]) == 2
    assert merged["posterior_layers"][-1]["layer"] == "all"
    with h5py.File(workdir / MODEL / "posterior.h5") as fh:
        assert fh["logvar/head.weight"].shape == (10, 16) and fh.attrs["eps"] == 0.5
    for name in ("fig4_weight_logvar", "fig5_weight_norm", "fig6_tsne", "fisher_input"):
        assert (workdir / f"results/figures/{name}.png").stat().st_size > 10_000
        assert (workdir / f"results/figures/{name}.pdf").read_bytes()[:4] == b"%PDF"


def test_inversions_of_every_model(tiny_run: Path) -> None:
    workdir = tiny_run
    from advinfo.information.inversion_store import load_inversion

    data, attrs = load_inversion(workdir / MODEL / "inversion.h5")
    assert attrs["eps"] == 0.5 and attrs["ood_dataset"] == "letters"
    assert data["originals"].shape == (8 + 4, 3, 8, 8) and data["in_distribution"].sum() == 8
    assert set(data["images"]) == {"inversion", "noise_once", "effective"}
    assert all(len(loss) <= 101 for loss in data["loss"].values())
    assert data["feature_vis"]["images"].shape == (6, 3, 8, 8)
    assert data["manipulation"]["images"].shape == (2, 4, 3, 8, 8)
    assert (data["manipulation"]["after"] >= data["manipulation"]["before"]).all()
    table = pd.read_csv(workdir / "results/tables/inversion.csv").query("source == 'digits'")
    assert len(table) == 5 * 3 * 12 and set(table["images"]) == {"source", "out-of-distribution"}
    assert table["psnr"].between(0, 60).all() and table["ssim"].between(-1, 1).all()
    assert "PSNR (dB) against the original" in (workdir / "results/tables/inversion.md").read_text()
    records = json.loads((workdir / MODEL / "inversion.json").read_text())["records"]
    # one posterior draw per image, shared by the three variants; its size is the (here unconverged) posterior's
    change = pd.DataFrame(records).pivot(index="image", columns="variant", values="noise_feature_change")
    assert np.isfinite(change.to_numpy()).all() and (change.to_numpy() > 0).all()
    assert (change.nunique(axis=1) == 1).all()
    for name in ("fig1_inversion", "fig2_inversion_loss", "feature_visualisation", "feature_manipulation"):
        assert (workdir / f"results/figures/{name}.png").stat().st_size > 10_000


def test_distances_and_the_gap_against_them(tiny_run: Path) -> None:
    workdir = tiny_run
    from advinfo.nets.features import read_features
    from advinfo.transfer.distance import domain_emd

    reference = "digits/resnet_mini/standard-eps0-seed0"
    distances = pd.read_csv(workdir / "results/tables/distance.csv")
    # the imported source (imnet) is measured from its images dataset, digits: the same distances
    assert distances[["measure", "source", "target"]].values.tolist() == [
        ["emd", "digits", "letters"],
        ["emd", "imnet", "letters"],
        ["task2vec", "digits", "letters"],
        ["task2vec", "imnet", "letters"],
    ]
    assert distances["distance"].tolist()[::2] == distances["distance"].tolist()[1::2]
    distances = distances[distances["source"] == "digits"]
    assert (distances["reference"] == reference).all() and (distances["distance"] > 0).all()
    emd = distances.iloc[0]
    # the source's own features come from a job of their own, the target's from its transfer job
    features = [workdir / "results/distance/features/digits.h5", workdir / f"results/features/{reference}/letters.h5"]
    splits = [read_features(path)[0]["train"] for path in features]
    assert emd["distance"] == pytest.approx(domain_emd(*splits[0], *splits[1]))
    assert emd["similarity"] == pytest.approx(np.exp(-0.01 * emd["distance"]))
    assert 0 < distances.iloc[1]["distance"] < 1
    gaps = pd.read_csv(workdir / "results/tables/gap_vs_distance.csv").query("method == 'pgd' and source == 'digits'")
    transfer = pd.read_csv(workdir / "results/tables/transfer.csv").query("mode == 'finetune2' and source == 'digits'")
    transfer = transfer.set_index("method")
    assert len(gaps) == 2 and gaps["gap"].tolist() == pytest.approx(
        [transfer.loc["pgd", "clean_acc"] - transfer.loc["standard", "clean_acc"]] * 2
    )
    spearman = pd.read_csv(workdir / "results/tables/gap_vs_distance_spearman.csv")
    assert len(spearman) == 4 * 2 and (spearman["n_targets"] == 1).all() and spearman["rho"].isna().all()  # one target
    assert (workdir / "results/figures/gap_vs_distance_digits.png").stat().st_size > 10_000
    assert "<table" in (workdir / "results/tables/distance.html").read_text()


def test_transfer_results_and_tables(tiny_run: Path) -> None:
    workdir = tiny_run
    weights_sha256 = torch.load(workdir / MODEL / "model.pt", weights_only=True)["meta"]["weights_sha256"]
    transfer = pd.read_csv(workdir / "results/tables/transfer.csv").query("source == 'digits'")
    assert len(transfer) == 5 * 1 * 3  # models x targets x (linear, finetune0, finetune2)
    assert sorted(transfer["mode"].unique()) == ["finetune0", "finetune2", "linear"]
    assert transfer.loc[transfer["mode"] == "linear", "robust_acc@0.5"].notna().all()
    assert transfer["clean_acc"].between(0, 100).all()
    with h5py.File(workdir / "results/features/digits/resnet_mini/pgd-eps0.5-seed0/letters.h5") as fh:
        assert fh.attrs["target"] == "letters" and fh.attrs["eps"] == 0.5
        assert fh.attrs["weights_sha256"] == weights_sha256
        assert fh["train/features"].shape == (130, fh.attrs["feature_dim"])  # transfer.n_train
    probe = json.loads(
        (workdir / "results/transfer/digits/resnet_mini/pgd-eps0.5-seed0/letters/linear.json").read_text()
    )
    assert probe["l2"] in (0.001, 0.1) and set(probe["val_accuracy"]) == {"0.001", "0.1"}
    for name in ("linear", "finetune", "robustness"):
        page = (workdir / f"results/tables/transfer_{name}.html").read_text()
        assert "<table" in page and "Source: digits (resnet_mini)" in page
