"""The workflow on configs of its own: the paper grid plans, a bad config or one that would fail
in a job fails before any job, a killed pretraining resumes to the same weights, edge configs run,
and library edits retrain only what they compute (on the shared tiny run)."""

from __future__ import annotations

import signal
import time

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
import yaml
from conftest import ROOT, TINY, planned_jobs, snakemake

pytestmark = pytest.mark.slow
MODEL = "results/pretrain/digits/resnet_mini/pgd-eps0.5-seed0"


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
    assert jobs["transfer"] == 36 * 10 + 2 * 11 and "linear_probe" not in jobs and "finetune" not in jobs
    # distances of 3 sources (the imported ImageNet models' images too) by 2 measures
    assert jobs["dataset_distance"] == 3 * 2 and jobs["mi_vulnerability"] == 36  # not the imported models
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
    ("plan/checks.py", "; did you mean {hint[0]!r}?", "; perhaps you meant {hint[0]!r}?", {}),
    (
        "robust/attacks.py",
        "delta.detach() + self.step_size *",
        "delta.detach() + 1.0 * self.step_size *",
        {"pgd": 1, "trades": 1, "arat": 1, "wcmi": 1, "standard": 1},
    ),
    ("plan/preflight.py", "two per class, for the stratified", "two of each class, for the stratified", {}),
    ("plan/hyperparameters.py", "standard training is the one method", "standard training is the only method", {}),
    ("training/methods/arat.py", "1 - F.cosine_similarity", "1.0 - F.cosine_similarity", {"arat": 1}),
    ("training/methods/trades.py", "+ self.beta * robust", "+ 1.0 * self.beta * robust", {"trades": 1}),
    ("nets/probe.py", "history_size=20", "history_size=21", {"wcmi": 1}),
]


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
        jobs = [
            line.split("pretrain/digits/resnet_mini/")[1].split("-eps")[0]
            for line in text.splitlines()
            if "output: results/pretrain/digits/resnet_mini/" in line and "/model.pt" in line
        ]
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
        overlay.write_text(
            yaml.safe_dump(
                {"data": {"folders": {"pictures": str(tmp_path / "folder")}, "threads": threads, "download": download}}
            )
        )
        if threads == 1:
            built = snakemake(tmp_path, target, overlays=(overlay,))
            assert built.returncode == 0 and (tmp_path / target).exists(), built.stderr[-2000:]
        else:
            plan = snakemake(tmp_path, "-n", target, overlays=(overlay,))
            assert "Nothing to be done" in plan.stdout + plan.stderr, (plan.stdout + plan.stderr)[-2000:]
