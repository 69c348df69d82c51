"""The workflow end to end on the tiny config: every rule runs, a rerun does nothing, a bad
config fails before any job, and a pretraining job killed mid-run resumes to the same weights."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch
import yaml
from conftest import ROOT

pytestmark = pytest.mark.slow
TINY = ROOT / ".test" / "config.yaml"
MODEL = "results/pretrain/digits/resnet_mini/pgd-eps0.5-seed0"


def snakemake(workdir: Path, *args: str, config: Path = TINY, **kwargs) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(config), "--cores", "2", *args]  # fmt: skip
    if kwargs.pop("background", False):
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)


def test_tiny_config_runs_every_rule_and_a_rerun_does_nothing(tmp_path):
    first = snakemake(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/tables/pretrain_robustness.csv")
    assert sorted(table["method"].unique()) == ["pgd", "standard"]
    assert sorted(table["test_eps"].unique()) == [0.0, 0.5, 1.0]
    assert len(table) == 2 * 3
    markdown = (tmp_path / "results/tables/pretrain_robustness.md").read_text()
    assert "### Source: digits" in markdown and "robust @ ε=0.5" in markdown
    metrics = pd.read_csv(tmp_path / MODEL / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    assert {"train_loss", "clean_acc", "robust_acc", "weight_norm"} <= set(metrics.columns)
    log = (tmp_path / "results/logs/pretrain/digits/resnet_mini/pgd-eps0.5-seed0.log").read_text()
    assert "epoch 2/2" in log
    assert not list(tmp_path.rglob("resume.pt")), "resume state must be removed after success"
    state = torch.load(tmp_path / MODEL / "model.pt", weights_only=True)
    assert state["meta"]["train"]["eps"] == 0.5 and len(state["meta"]["weights_sha256"]) == 64

    again = snakemake(tmp_path)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stderr + again.stdout


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
