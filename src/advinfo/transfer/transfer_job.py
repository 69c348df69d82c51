"""Transfer of one pretrained model to one target in one process: its features to HDF5, the
linear probe on them (scored clean and under the evaluation attack through the whole network),
then partial fine-tuning of every depth from that probe. Each part keeps its own output file;
a killed job resumes each fine-tuning from its last finished epoch."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from advinfo.datasets.images import ImageDataset, model_inputs
from advinfo.fileio import write_json
from advinfo.nets.features import extract_features, read_model_features
from advinfo.nets.models import Classifier, with_head
from advinfo.nets.probe import LinearProbe, fit_probe, save_probe
from advinfo.plan.attack_specs import AttackSpec
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.plan.names import ModelSpec, model_record, provenance_record
from advinfo.robust.accuracy import accuracy
from advinfo.robust.curves import robustness_curve
from advinfo.transfer.finetune import finetune

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferOptions:
    """What a transfer job does (the ``transfer`` section, as the rule's params pass it)."""

    batch_size: int  # of feature extraction
    probe: dict[str, Any]  # fit_probe's options
    attack: dict[str, Any]  # radii, images and AttackSpec fields of the attack on the probed network
    stages: list[int]  # fine-tuning depths
    head_init: str  # "probe" or "random"
    train: dict[str, Any]  # TrainConfig fields of fine-tuning
    monitor_size: int
    sample_seed: int


@dataclass(frozen=True)
class TransferPaths:
    """Where a transfer job writes: features, probe record and head, one record per depth, and
    the folder of the fine-tunings' resume states."""

    features: str | Path
    linear: str | Path
    head: str | Path
    finetune: list[str | Path]  # in the order of TransferOptions.stages
    resume_dir: str | Path

    def resume(self, stages: int) -> Path:
        """Where the fine-tuning of the last ``stages`` stages keeps its state between epochs."""
        return Path(self.resume_dir) / f"resume-finetune{stages}.pt"


@dataclass(frozen=True)
class TransferJob:
    """One transfer job: the pretrained ``model`` (its file's ``meta``) that ``spec`` names in
    every output, the ``target`` dataset, what to do and where to write."""

    model: Classifier
    meta: dict[str, Any]
    target: ImageDataset
    spec: ModelSpec
    options: TransferOptions
    paths: TransferPaths
    device: torch.device


def transfer_model(job: TransferJob) -> None:
    """Features, probe and every fine-tuning depth of the job's model on its target. Resume
    states go once all are done."""
    model, target, options, paths = job.model, job.target, job.options, job.paths
    log.info("transfer of %s to %s (%d training images)", job.spec.path, target.name, len(target.y_train))
    record = model_record(job.spec)
    extract_features(paths.features, model, target, record, job.meta, job.device, options.batch_size)
    head = probe_transfer(job)
    for stages, out in zip(options.stages, paths.finetune, strict=True):
        finetune_transfer(job, head if options.head_init == "probe" else None, stages, out)
    for stages in options.stages:
        paths.resume(stages).unlink(missing_ok=True)


def probe_transfer(job: TransferJob) -> LinearProbe:
    """Logistic regression on the frozen features (penalty chosen on a validation split), then
    the evaluation attack through the whole network with the probe as its head."""
    model, meta, target, options, device = job.model, job.meta, job.target, job.options, job.device
    splits, attrs = read_model_features(job.paths.features, meta["weights_sha256"], device)
    (z_train, y_train), (z_test, y_test) = splits["train"], splits["test"]
    fit = fit_probe(z_train, y_train, attrs["num_classes"], seed=job.spec.seed, **options.probe)
    test_acc = fit.probe.accuracy(z_test, y_test)
    log.info("probe l2=%g: test accuracy %.2f%% (%d L-BFGS iterations)", fit.probe.l2, test_acc, fit.iterations)
    attack = options.attack
    images, labels = model_inputs(
        target, "test", meta["image_size"], device, limit=attack["n_test"], seed=options.sample_seed
    )
    spec = AttackSpec(**attack["spec"])
    network = with_head(model, fit.probe.as_linear())
    curve = robustness_curve(network, images, labels, attack["epsilons"], spec, attrs["num_classes"])
    result = provenance_record(
        job.spec,
        meta,
        target=target.name,
        mode="linear",
        clean_acc=test_acc,
        robust_acc={k: v for k, v in curve.items() if k != "clean"},
        attacked_clean_acc=curve["clean"],
        attack={**attack, "description": spec.describe(), "implementation": spec.implementation()},
        n_attacked=len(labels),
        l2=fit.probe.l2,
        val_accuracy={f"{k:g}": v for k, v in fit.val_accuracy.items()},
        lbfgs_iterations=fit.iterations,
        n_train=len(y_train),
        n_test=len(y_test),
    )
    save_probe(fit.probe, job.paths.head)
    write_json(result, job.paths.linear)
    log.info("robust accuracy of the probed network: %s", result["robust_acc"])
    return fit.probe


def finetune_transfer(job: TransferJob, head: LinearProbe | None, stages: int, out: str | Path) -> None:
    """A new head (the probe, or random) and the last ``stages`` residual stages, trained on the
    target and written to ``out``; resumes from its own resume file."""
    model, meta, target, options, device = job.model, job.meta, job.target, job.options, job.device
    cfg = TrainConfig.from_schema(**options.train)
    log.info("fine-tuning the last %d stages and a %s head", stages, "probe-initialised" if head else "random")
    tuned, history = finetune(
        model,
        target,
        stages,
        cfg,
        meta["image_size"],
        options.monitor_size,
        head.as_linear() if head else None,
        job.paths.resume(stages),
        device,
        sample_seed=options.sample_seed,
    )
    test_acc = accuracy(tuned, *model_inputs(target, "test", meta["image_size"], device))
    result = provenance_record(
        job.spec,
        meta,
        target=target.name,
        mode=f"finetune{stages}",
        clean_acc=test_acc,
        robust_acc={},
        trainable_stages=stages,
        head_init="probe" if head else "random",
        history=history,
        n_train=len(target.y_train),
        n_test=len(target.y_test),
    )
    write_json(result, out)
    log.info("fine-tuned %d stages: test accuracy %.2f%%", stages, test_acc)
