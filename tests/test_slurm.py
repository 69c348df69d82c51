"""The tiny config through the ``slurm`` profile on a real single-node SLURM cluster, started
on this machine by tests/slurm/start_local_slurm.sh: every job runs as a SLURM job, and the
results equal those of a local run. Needs root (CI runs as root); skips otherwise."""

from __future__ import annotations

import os
import re
import subprocess
import time

import pandas as pd
import pytest
import yaml
from conftest import ROOT, copy_checkout, snakemake

pytestmark = pytest.mark.slow
START = ROOT / "tests" / "slurm" / "start_local_slurm.sh"
PROFILE = ROOT / "workflow" / "profiles" / "slurm"
# What the SLURM run makes: every kind of job that asks SLURM for a GPU, time and memory
# (training, evaluation, transfer, information), their tables and a figure; the rest of the DAG
# is the same rules again, and each SLURM job costs seconds of scheduling.
TARGETS = (
    "results/tables/pretrain_robustness.csv",
    "results/tables/transfer.csv",
    "results/figures/fig4_weight_logvar.png",
)


@pytest.fixture(scope="module")
def partition() -> str:
    if os.geteuid() != 0:
        pytest.skip("the SLURM test starts a local cluster and needs root (CI runs as root)")
    started = subprocess.run([str(START)], capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stdout + started.stderr
    return started.stdout.split()[-1]


def test_tiny_config_through_the_slurm_profile_matches_a_local_run(partition, tiny_run, tmp_path):
    checkout = copy_checkout(tmp_path / "checkout")
    pgd_only = checkout / "pgd_only.yaml"  # the other methods' jobs are the same rules again: left out for time
    pgd_only.write_text(yaml.safe_dump({"pretrain": {"methods": ["pgd"]}}))
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    # The test cluster has no GPUs: the profile's GPU rules ask for none here.
    no_gpu = [f"{rule}:gpu=0" for rule in profile["set-resources"]]
    started = time.monotonic()
    result = snakemake(
        checkout,
        "--profile",
        str(PROFILE),
        "--jobs",
        "4",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--default-resources",
        f"slurm_partition={partition}",
        "mem_mb=1000",
        "runtime=30",
        "gpu=0",
        "--set-resources",
        *no_gpu,
        "--",
        *TARGETS,
        snakefile=checkout / "Snakefile",
        overlays=(pgd_only,),
        timeout=1800,
    )
    elapsed = time.monotonic() - started
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    print(f"tiny config through SLURM: {elapsed:.0f} s")

    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    finished = len(re.findall(r"Finished jobid: \d+", log))
    assert len(job_ids) == finished > 10, "every job ran as a SLURM job"
    states = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i %T", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    by_id = dict(line.split() for line in states if line.strip())
    assert sorted(by_id) == sorted(job_ids) and set(by_id.values()) == {"COMPLETED"}, by_id

    tables = sorted(p.relative_to(checkout) for p in (checkout / "results" / "tables").glob("*.csv"))
    assert len(tables) >= 3
    for table in tables:  # the local run also imported a model (source imnet) and trained every method
        local = pd.read_csv(tiny_run / table)
        if "source" in local:
            local = local[local["source"] != "imnet"].reset_index(drop=True)
        if "method" in local:
            local = local[local["method"].isin(["standard", "pgd"])].reset_index(drop=True)
        pd.testing.assert_frame_equal(pd.read_csv(checkout / table), local, rtol=1e-6, obj=str(table))
    assert (checkout / TARGETS[-1]).stat().st_size > 10_000


def test_the_profile_gives_gpu_rules_a_gpu_and_every_rule_time_and_memory():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert {"runtime", "mem_mb"} <= set(profile["default-resources"])
    scripts = (ROOT / "workflow" / "scripts").glob("*.py")
    gpu_rules = {p.name for p in scripts if "job_device(" in p.read_text() or "job_devices(" in p.read_text()}
    assert {f"{rule}.py" for rule in profile["set-resources"]} == gpu_rules
    for rule, resources in profile["set-resources"].items():
        # pretrain keeps its rule's gpu=pretrain.gpus (data-parallel over several GPUs)
        gpus = resources.get("gpu") if rule != "pretrain" else (None if "gpu" in resources else 1)
        assert gpus == 1 and resources["runtime"] > 0 and resources["mem_mb"] > 0, rule
