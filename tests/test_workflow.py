"""The workflow end to end on the tiny config: every rule runs, a rerun does nothing, an edit
reruns only the jobs it touches, a bad config fails before any job, and a pretraining job
killed mid-run resumes to the same weights."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import psutil
import pytest
import torch
import yaml
from conftest import ROOT, TINY, copy_checkout, planned_jobs, snakemake

pytestmark = pytest.mark.slow
MODEL = "results/pretrain/digits/resnet_mini/pgd-eps0.5-seed0"


@pytest.fixture
def checkout(tmp_path) -> Path:
    return copy_checkout(tmp_path / "checkout")


def test_tiny_config_runs_every_rule_and_reruns_only_what_an_edit_touches(checkout):
    snakefile = checkout / "Snakefile"
    first = snakemake(checkout, snakefile=snakefile)
    assert first.returncode == 0, first.stderr[-3000:]
    table = pd.read_csv(checkout / "results/tables/pretrain_robustness.csv")
    assert sorted(table["method"].unique()) == ["arat", "pgd", "standard", "trades", "wcmi"]
    assert sorted(table["test_eps"].unique()) == [0.0, 0.5, 1.0]
    assert len(table) == 5 * 3
    markdown = (checkout / "results/tables/pretrain_robustness.md").read_text()
    assert "### Source: digits" in markdown and "robust @ ε=0.5" in markdown
    metrics = pd.read_csv(checkout / MODEL / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    assert {"train_loss", "clean_acc", "robust_acc", "weight_norm"} <= set(metrics.columns)
    log = (checkout / "results/logs/pretrain/digits/resnet_mini/pgd-eps0.5-seed0.log").read_text()
    assert "epoch 2/2" in log
    assert not list(checkout.rglob("resume*.pt")), "resume state must be removed after success"
    state = torch.load(checkout / MODEL / "model.pt", weights_only=True)
    assert state["meta"]["train"]["eps"] == 0.5 and len(state["meta"]["weights_sha256"]) == 64
    _check_transfer_outputs(checkout, state["meta"]["weights_sha256"])
    _check_information_outputs(checkout)
    _check_distance_outputs(checkout)
    _check_inversion_outputs(checkout)
    _check_method_comparison(checkout)

    again = snakemake(checkout, snakefile=snakefile)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stderr + again.stdout

    script = checkout / "workflow/scripts/transfer_table.py"
    script.write_text(script.read_text() + "# an edit to the table rendering\n")
    # read transfer.csv (and distance.csv)
    downstream = {"gap_distance_table": 1, "plot_gap_distance": 1, "method_comparison": 1, "plot_method_comparison": 1}
    planned = planned_jobs(snakemake(checkout, "-n", snakefile=snakefile))
    assert planned == {"transfer_table": 1, **downstream, "default": 1}
    assert snakemake(checkout, snakefile=snakefile).returncode == 0
    plot = checkout / "workflow/scripts/plot_tsne.py"
    plot.write_text(plot.read_text() + "# an edit to one figure\n")
    assert planned_jobs(snakemake(checkout, "-n", snakefile=snakefile)) == {"plot_tsne": 1, "default": 1}
    assert snakemake(checkout, snakefile=snakefile).returncode == 0
    figure = checkout / "results/figures/fig4_weight_logvar.png"
    before = figure.stat().st_mtime_ns
    forced = snakemake(checkout, "-f", "results/figures/fig4_weight_logvar.png", snakefile=snakefile)
    assert forced.returncode == 0 and "1 of 1 steps (100%) done" in forced.stderr, "-f re-executes exactly one job"
    assert "rule plot_weight_logvar:" in forced.stderr and figure.stat().st_mtime_ns > before
    library = checkout / "src/advinfo/tables.py"
    library.write_text(library.read_text() + "# an edit to the library\n")
    edited = planned_jobs(snakemake(checkout, "-n", snakefile=snakefile))
    tables = {"pretrain_table": 1, "transfer_table": 1, "distance_table": 1, "inversion_table": 1, "method_comparison": 1}
    assert edited == {**tables, **downstream, "default": 1}


def _check_method_comparison(workdir: Path) -> None:
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


def _check_information_outputs(workdir: Path) -> None:
    info = pd.read_csv(workdir / "results/tables/information.csv")
    assert len(info) == 5 and (info["trace"] >= info["lambda1"]).all() and (info["lambda1"] > 0).all()
    assert info["mean_logvar"].between(-20, 0).all()
    assert (info["posterior_ce"] - info["posterior_ce_clean"] < 1.0).all() and info["posterior_acc"].between(0, 1).all()
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


def _check_inversion_outputs(workdir: Path) -> None:
    from advinfo.inversion_file import load_inversion

    data, attrs = load_inversion(workdir / MODEL / "inversion.h5")
    assert attrs["eps"] == 0.5 and attrs["ood_dataset"] == "letters"
    assert data["originals"].shape == (8 + 4, 3, 8, 8) and data["in_distribution"].sum() == 8
    assert set(data["images"]) == {"inversion", "noise_once", "effective"}
    assert all(len(loss) <= 101 for loss in data["loss"].values())
    assert data["feature_vis"]["images"].shape == (6, 3, 8, 8)
    assert data["manipulation"]["images"].shape == (2, 4, 3, 8, 8)
    assert (data["manipulation"]["after"] >= data["manipulation"]["before"]).all()
    table = pd.read_csv(workdir / "results/tables/inversion.csv")
    assert len(table) == 5 * 3 * 12 and set(table["images"]) == {"source", "out-of-distribution"}
    assert table["psnr"].between(0, 60).all() and table["ssim"].between(-1, 1).all()
    assert "PSNR (dB) against the original" in (workdir / "results/tables/inversion.md").read_text()
    records = json.loads((workdir / MODEL / "inversion.json").read_text())["records"]
    assert all(0 < r["noise_feature_change"] < 1 for r in records)
    for name in ("fig1_inversion", "fig2_inversion_loss", "feature_visualisation", "feature_manipulation"):
        assert (workdir / f"results/figures/{name}.png").stat().st_size > 10_000


def _check_distance_outputs(workdir: Path) -> None:
    from advinfo.distance import domain_emd
    from advinfo.features import read_features

    reference = "digits/resnet_mini/standard-eps0-seed0"
    distances = pd.read_csv(workdir / "results/tables/distance.csv")
    assert distances[["measure", "source", "target"]].values.tolist() == [["emd", "digits", "letters"],
                                                                          ["task2vec", "digits", "letters"]]  # fmt: skip
    assert (distances["reference"] == reference).all() and (distances["distance"] > 0).all()
    emd = distances.iloc[0]
    features = [workdir / f"results/features/{reference}/{name}.h5" for name in ("digits", "letters")]
    splits = [read_features(path)[0]["train"] for path in features]
    assert emd["distance"] == pytest.approx(domain_emd(*splits[0], *splits[1]))
    assert emd["similarity"] == pytest.approx(np.exp(-0.01 * emd["distance"]))
    assert 0 < distances.iloc[1]["distance"] < 1
    gaps = pd.read_csv(workdir / "results/tables/gap_vs_distance.csv").query("method == 'pgd'")
    transfer = pd.read_csv(workdir / "results/tables/transfer.csv").query("mode == 'finetune2'").set_index("method")
    assert len(gaps) == 2 and gaps["gap"].tolist() == pytest.approx([transfer.loc["pgd", "clean_acc"] -
                                                                     transfer.loc["standard", "clean_acc"]] * 2)  # fmt: skip
    spearman = pd.read_csv(workdir / "results/tables/gap_vs_distance_spearman.csv")
    assert len(spearman) == 4 * 2 and (spearman["n_targets"] == 1).all() and spearman["rho"].isna().all()  # one target
    assert (workdir / "results/figures/gap_vs_distance_digits.png").stat().st_size > 10_000
    assert "<table" in (workdir / "results/tables/distance.html").read_text()


def _check_transfer_outputs(workdir: Path, weights_sha256: str) -> None:
    transfer = pd.read_csv(workdir / "results/tables/transfer.csv")
    assert len(transfer) == 5 * 1 * 3  # models x targets x (linear, finetune0, finetune2)
    assert sorted(transfer["mode"].unique()) == ["finetune0", "finetune2", "linear"]
    assert transfer.loc[transfer["mode"] == "linear", "robust_acc@0.5"].notna().all()
    assert transfer["clean_acc"].between(0, 100).all()
    with h5py.File(workdir / "results/features/digits/resnet_mini/pgd-eps0.5-seed0/letters.h5") as fh:
        assert fh.attrs["target"] == "letters" and fh.attrs["eps"] == 0.5
        assert fh.attrs["weights_sha256"] == weights_sha256
        assert fh["train/features"].shape == (200, fh.attrs["feature_dim"])
    probe = json.loads((workdir / "results/transfer/digits/resnet_mini/pgd-eps0.5-seed0/letters/linear.json").read_text())
    assert probe["l2"] in (0.001, 0.1) and set(probe["val_accuracy"]) == {"0.001", "0.1"}
    for name in ("linear", "finetune", "robustness"):
        page = (workdir / f"results/tables/transfer_{name}.html").read_text()
        assert "<table" in page and "Source: digits (resnet_mini)" in page


def test_paper_config_plans_the_whole_grid(tmp_path):
    """config/paper.yaml dry-runs without any dataset or checkpoint present."""
    started = time.monotonic()
    result = snakemake(tmp_path, "-n", config=ROOT / "config" / "paper.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    print(f"paper config dry run: {time.monotonic() - started:.1f} s")
    jobs = planned_jobs(result)
    # 2 sources x 2 archs x (6 radii of pgd + trades, arat, wcmi at 0.5); 11 targets + the ImageNet
    # stand-in; CIFAR models skip their own source
    assert jobs["pretrain"] == 2 * 2 * (6 + 3) and jobs["import_model"] == 2 and jobs["prepare_dataset"] == 12
    assert jobs["linear_probe"] == 36 * 10 + 2 * 11 and jobs["finetune"] == 3 * jobs["linear_probe"]
    assert jobs["dataset_distance"] == 2 * 2 * 10 and jobs["mi_vulnerability"] == 36  # not the imported models
    assert jobs["method_comparison"] == 1 and jobs["plot_method_comparison"] == 1


def test_bad_config_fails_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"pretrain": {"epoch": 3}}))
    result = snakemake(tmp_path, config=bad)
    assert result.returncode != 0
    assert "config key 'pretrain.epoch' is unknown; did you mean 'epochs'?" in result.stderr + result.stdout
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def _job_processes(parent: psutil.Process, script: str) -> list[psutil.Process]:
    found = []
    for child in parent.children(recursive=True):
        try:
            if any(script in part for part in child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_killed_pretraining_resumes_to_identical_weights(tmp_path):
    config = tmp_path / "slow.yaml"
    base = yaml.safe_load(TINY.read_text())
    base["pretrain"].update(epochs=6, attack_steps=3, monitor_steps=2)
    base["model"]["width"] = 8
    config.write_text(yaml.safe_dump(base))
    target = f"{MODEL}/model.pt"

    reference_dir, killed_dir = tmp_path / "reference", tmp_path / "killed"
    ref = snakemake(reference_dir, target, config=config)
    assert ref.returncode == 0, ref.stderr[-3000:]

    proc = snakemake(killed_dir, target, config=config, background=True)
    resume = killed_dir / MODEL / "resume.pt"
    deadline = time.time() + 300
    while not resume.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert resume.exists(), "training never wrote its resume state"
    jobs = _job_processes(psutil.Process(proc.pid), "pretrain.py")
    assert jobs, "the pretraining job process was not found"
    for job in jobs:
        job.send_signal(signal.SIGKILL)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, "snakemake should report the killed job"
    assert not (killed_dir / MODEL / "model.pt").exists()
    epochs_done = torch.load(resume, weights_only=True)["epoch"]
    assert 1 <= epochs_done < 6

    rerun = snakemake(killed_dir, target, config=config)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = (killed_dir / "results/logs/pretrain/digits/resnet_mini/pgd-eps0.5-seed0.log").read_text()
    assert f"after epoch {epochs_done}" in log
    a = torch.load(reference_dir / target, weights_only=True)["state_dict"]
    b = torch.load(killed_dir / target, weights_only=True)["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    ref_metrics = pd.read_csv(reference_dir / MODEL / "metrics.csv")
    new_metrics = pd.read_csv(killed_dir / MODEL / "metrics.csv")
    pd.testing.assert_series_equal(ref_metrics["train_loss"], new_metrics["train_loss"])


LIBRARY_EDITS = [
    # (module, text replaced, replacement, {method: planned pretraining jobs}); {} plans nothing at all
    ("logs.py", 'format="%(asctime)s', 'format="[advinfo] %(asctime)s', {}),
    ("fileio.py", "is missing, truncated or not JSON", "is absent, cut short or not JSON", {}),
    ("config.py", "; did you mean '{hint[0]}'?", "; perhaps you meant '{hint[0]}'?", {}),
    ("attacks.py", "delta.detach() + self.step_size *", "delta.detach() + 1.0 * self.step_size *",
     {"pgd": 1, "trades": 1, "arat": 1, "wcmi": 1, "standard": 1}),
    ("arat.py", "1 - F.cosine_similarity", "1.0 - F.cosine_similarity", {"arat": 1}),
    ("probe.py", 'history_size=20', 'history_size=21', {"wcmi": 1}),
]  # fmt: skip


@pytest.mark.parametrize("module,old,new,retrained", LIBRARY_EDITS, ids=[e[0] for e in LIBRARY_EDITS])
def test_library_edits_retrain_only_the_models_they_compute(tiny_run, module, old, new, retrained):
    """Logging, file helpers and config messages retrain nothing; the PGD step retrains every
    model of the grid (not the imported one); a method's own module retrains that method's models."""
    path = tiny_run / "src" / "advinfo" / module
    original = path.read_text()
    assert original.count(old) == 1, f"{module} changed: update the edit of this test"
    try:
        path.write_text(original.replace(old, new))
        plan = snakemake(tiny_run, "-n", snakefile=tiny_run / "Snakefile", overlays=(tiny_run / "imported.yaml",))
        text = plan.stdout + plan.stderr
        assert plan.returncode == 0, text[-3000:]
        if not retrained:
            assert "Nothing to be done" in text, text[-3000:]
            return
        jobs = [line.split("pretrain/digits/resnet_mini/")[1].split("-eps")[0]
                for line in text.splitlines() if "output: results/pretrain/digits/resnet_mini/" in line
                and "/model.pt" in line]  # fmt: skip
        assert {m: jobs.count(m) for m in set(jobs)} == retrained and "rule import_model" not in text
    finally:
        path.write_text(original)
    after = snakemake(tiny_run, "-n", snakefile=tiny_run / "Snakefile", overlays=(tiny_run / "imported.yaml",))
    assert "Nothing to be done" in after.stdout + after.stderr, "restoring the file must leave nothing to do"


REFUSED_AT_PARSE = [
    ({"transfer": {"probe": {"val_fraction": 0.05}}}, "config key 'transfer.probe.val_fraction': 0.05 holds out 10"),
    ({"data": {"n_train": 40}}, "config key 'data.n_train': 40 gives 'letters' (26 classes) 1 training image"),
    ({"pretrain": {"arat_layer": 3}}, "config key 'pretrain.arat_layer': 3 is not a stage of resnet_mini"),
    ({"pretrain": {"gpus": 3}}, "config key 'pretrain.batch_size': 128 does not split over pretrain.gpus = 3"),
]


@pytest.mark.parametrize("overlay,message", REFUSED_AT_PARSE, ids=[m.split("'")[1] for _, m in REFUSED_AT_PARSE])
def test_configs_that_would_fail_in_a_job_fail_the_dry_run(tmp_path, overlay, message):
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    result = snakemake(tmp_path, "-n", overlays=(path,))
    assert result.returncode != 0 and message in result.stdout + result.stderr, (result.stdout + result.stderr)[-2000:]
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


def test_edge_configs_run_to_the_end(tmp_path):
    """Targets that are only the source transfer nothing and say so; an epoch whose last batch
    holds one image (1,437 digits in batches of 4) trains AR-AT's BatchNorm without failing."""
    overlay = tmp_path / "edge.yaml"
    edge = {"targets": ["digits"], "pretrain": {"methods": ["arat"], "epochs": 1, "batch_size": 4}}
    overlay.write_text(yaml.safe_dump(edge))
    result = snakemake(tmp_path, overlays=(overlay,))
    assert result.returncode == 0, result.stderr[-3000:]
    assert pd.read_csv(tmp_path / "results/tables/transfer.csv").empty
    assert "No rows: nothing of this kind ran" in (tmp_path / "results/tables/transfer_linear.md").read_text()
    assert "No rows" in (tmp_path / "results/tables/distance.html").read_text()
    comparison = pd.read_csv(tmp_path / "results/tables/method_comparison.csv")
    assert list(comparison["method"]) == ["standard", "arat"] and comparison["transfer_gap"].isna().all()
    assert not list((tmp_path / "results/figures").glob("gap_vs_distance_*"))


def test_how_a_dataset_is_read_does_not_rebuild_it(tmp_path):
    """data.threads and data.download change how a folder or torchvision dataset is read, not
    what it holds: changing them plans nothing (a rebuild would retrain every model on it)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label in ("a", "b"):
            (tmp_path / "folder" / split / label).mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(tmp_path / "folder" / split / label / f"{i}.png")
    target = "resources/datasets/pictures.npz"
    for threads, download in ((1, False), (2, True)):
        overlay = tmp_path / f"overlay{threads}.yaml"
        overlay.write_text(yaml.safe_dump({"data": {"folders": {"pictures": str(tmp_path / "folder")},
                                                    "threads": threads, "download": download}}))  # fmt: skip
        if threads == 1:
            built = snakemake(tmp_path, target, overlays=(overlay,))
            assert built.returncode == 0 and (tmp_path / target).exists(), built.stderr[-2000:]
        else:
            plan = snakemake(tmp_path, "-n", target, overlays=(overlay,))
            assert "Nothing to be done" in plan.stdout + plan.stderr, (plan.stdout + plan.stderr)[-2000:]
