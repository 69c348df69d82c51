"""The transfer job (advinfo.transfer.transfer_job, called by workflow/scripts/transfer.py): features,
probe and every fine-tuning depth of one (model, target) in one process, and a kill in its last
fine-tuning costing only that one."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
import torch

from advinfo.datasets.builders import BuildOptions, build_dataset
from advinfo.datasets.images import load_dataset, save_dataset, train_subset
from advinfo.nets.checkpoint import load_model, save_model, weights_hash
from advinfo.plan.names import ModelSpec
from advinfo.training.loop import Trainer
from advinfo.transfer.transfer_job import TransferJob, TransferOptions, TransferPaths, transfer_model

SPEC = ModelSpec("digits", "resnet_mini", "standard", 0.0, 0)
ATTACK = {"name": "pgd", "norm": "l2", "steps": 1, "iterations": 1, "square_queries": 1}
STAGES = [0, 1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, trained_digits_model) -> Path:
    root = tmp_path_factory.mktemp("transfer")
    model, _, meta = trained_digits_model
    save_model(model, {**meta, "weights_sha256": weights_hash(model)}, root / "model.pt")
    save_dataset(
        build_dataset("letters", BuildOptions.from_schema(n_train=156, n_test=52, seed=0)), root / "letters.npz"
    )
    return root


def run(inputs: Path, out: Path, n_train: int | None = None) -> None:
    """One transfer job writing under ``out``, as the rule's script calls it."""
    model, meta = load_model(inputs / "model.pt")
    options = TransferOptions(
        batch_size=64,
        probe={"penalties": [0.01, 0.1], "val_fraction": 0.2, "max_iter": 50, "tol": 1e-4},
        attack={"epsilons": [0.5], "n_test": 26, "spec": ATTACK},
        stages=STAGES,
        head_init="probe",
        train={"epochs": 2, "batch_size": 64, "lr": 0.05, "seed": 0},
        monitor_size=26,
        sample_seed=0,
    )
    paths = TransferPaths(
        out / "letters.h5",
        out / "linear.json",
        out / "linear_head.pt",
        [out / f"finetune{k}.json" for k in STAGES],
        out,
    )
    target = train_subset(load_dataset(inputs / "letters.npz"), n_train, seed=0)
    transfer_model(TransferJob(model, meta, target, SPEC, options, paths, torch.device("cpu")))


TIMINGS = ("epoch_seconds", "images_per_s")


def results(out: Path) -> list[dict]:
    """The job's result records, less the timings in their training histories."""
    records = [json.loads((out / name).read_text()) for name in ("linear.json", "finetune0.json", "finetune1.json")]
    for record in records:
        record["history"] = [{k: v for k, v in row.items() if k not in TIMINGS} for row in record.get("history", [])]
    return records


def count_epochs(monkeypatch: pytest.MonkeyPatch, crash_at_call: int | None = None) -> list[int]:
    """Record every training epoch started; with ``crash_at_call``, raise KeyboardInterrupt (a kill)
    when that many epochs have started (1-based)."""
    calls: list[int] = []
    original = Trainer.train_epoch

    def counted(self, images, labels, current, progress=True):
        calls.append(current)
        if len(calls) == crash_at_call:
            raise KeyboardInterrupt("simulated kill")
        return original(self, images, labels, current, progress)

    monkeypatch.setattr(Trainer, "train_epoch", counted)
    return calls


def test_one_job_writes_features_probe_and_every_depth(inputs, tmp_path, monkeypatch):
    epochs = count_epochs(monkeypatch)
    run(inputs, tmp_path)
    linear, tuned0, tuned1 = results(tmp_path)
    assert epochs == [0, 1, 0, 1]  # two epochs for each depth
    assert linear["mode"] == "linear" and set(linear["robust_acc"]) == {"0.5"} and linear["n_attacked"] == 26
    assert [tuned0["mode"], tuned1["mode"]] == ["finetune0", "finetune1"]
    assert tuned0["head_init"] == "probe" and len(tuned1["history"]) == 2
    with h5py.File(tmp_path / "letters.h5") as fh:
        assert fh.attrs["target"] == "letters" and fh["train/features"].shape[0] == 156
    assert not list(tmp_path.glob("resume*")), "resume states are removed when the job ends"


def test_a_kill_in_the_last_depth_resumes_without_redoing_the_others(inputs, tmp_path, monkeypatch):
    """Killed in the second depth's second epoch, the rerun (Snakemake removes the outputs of an
    incomplete job) trains that one epoch only and ends with the uninterrupted job's results."""
    run(inputs, tmp_path / "whole")
    killed = tmp_path / "killed"
    count_epochs(monkeypatch, crash_at_call=4)
    with pytest.raises(KeyboardInterrupt):
        run(inputs, killed)
    assert sorted(p.name for p in killed.glob("resume*")) == ["resume-finetune0.pt", "resume-finetune1.pt"]
    for name in ("letters.h5", "linear.json", "linear_head.pt", "finetune0.json"):
        (killed / name).unlink()
    epochs = count_epochs(monkeypatch)
    run(inputs, killed)
    assert epochs == [1]
    for whole, resumed in zip(results(tmp_path / "whole"), results(killed), strict=True):
        assert resumed == whole
    assert torch.equal(
        torch.load(killed / "linear_head.pt", weights_only=True)["weight"],
        torch.load(tmp_path / "whole" / "linear_head.pt", weights_only=True)["weight"],
    )


def test_transfer_n_train_takes_every_class_equally(inputs, tmp_path):
    run(inputs, tmp_path, n_train=130)
    with h5py.File(tmp_path / "letters.h5") as fh:
        assert torch.bincount(torch.from_numpy(fh["train/labels"][:])).tolist() == [5] * 26
        assert fh["test/labels"].shape == (52,)  # the test split is whole
    assert all(record["n_train"] == 130 for record in results(tmp_path))
