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


def transfer_model(
    model: Classifier,
    meta: dict[str, Any],
    target: ImageDataset,
    record: dict[str, Any],
    options: TransferOptions,
    paths: TransferPaths,
    device: torch.device,
) -> None:
    """Features, probe and every fine-tuning depth of ``model`` on ``target``; ``record`` names
    the model (plan.names.model_record) in every output. Resume states go once all are done."""
    log.info("transfer of %s to %s (%d training images)", record, target.name, len(target.y_train))
    extract_features(paths.features, model, target, record, meta, device, options.batch_size)
    head = probe_transfer(model, meta, target, record, options, paths, device)
    for stages, out in zip(options.stages, paths.finetune, strict=True):
        start = head if options.head_init == "probe" else None
        finetune_transfer(model, meta, target, record, start, stages, options, paths, out, device)
    for stages in options.stages:
        paths.resume(stages).unlink(missing_ok=True)


def probe_transfer(
    model: Classifier,
    meta: dict[str, Any],
    target: ImageDataset,
    record: dict[str, Any],
    options: TransferOptions,
    paths: TransferPaths,
    device: torch.device,
) -> LinearProbe:
    """Logistic regression on the frozen features (penalty chosen on a validation split), then
    the evaluation attack through the whole network with the probe as its head."""
    splits, attrs = read_model_features(paths.features, meta["weights_sha256"], device)
    (z_train, y_train), (z_test, y_test) = splits["train"], splits["test"]
    fit = fit_probe(z_train, y_train, attrs["num_classes"], seed=record["seed"], **options.probe)
    test_acc = fit.probe.accuracy(z_test, y_test)
    log.info("probe l2=%g: test accuracy %.2f%% (%d L-BFGS iterations)", fit.probe.l2, test_acc, fit.iterations)
    attack = options.attack
    images, labels = model_inputs(
        target, "test", meta["image_size"], device, limit=attack["n_test"], seed=options.sample_seed
    )
    spec = AttackSpec(**attack["spec"])
    network = with_head(model, fit.probe.as_linear())
    curve = robustness_curve(network, images, labels, attack["epsilons"], spec, attrs["num_classes"])
    result = {
        **record,
        "target": target.name,
        "mode": "linear",
        "clean_acc": test_acc,
        "robust_acc": {k: v for k, v in curve.items() if k != "clean"},
        "attacked_clean_acc": curve["clean"],
        "attack": {**attack, "description": spec.describe(), "implementation": spec.implementation()},
        "n_attacked": len(labels),
        "l2": fit.probe.l2,
        "val_accuracy": {f"{k:g}": v for k, v in fit.val_accuracy.items()},
        "lbfgs_iterations": fit.iterations,
        "n_train": len(y_train),
        "n_test": len(y_test),
        "weights_sha256": meta["weights_sha256"],
    }
    save_probe(fit.probe, paths.head)
    write_json(result, paths.linear)
    log.info("robust accuracy of the probed network: %s", result["robust_acc"])
    return fit.probe


def finetune_transfer(
    model: Classifier,
    meta: dict[str, Any],
    target: ImageDataset,
    record: dict[str, Any],
    head: LinearProbe | None,
    stages: int,
    options: TransferOptions,
    paths: TransferPaths,
    out: str | Path,
    device: torch.device,
) -> None:
    """A new head (the probe, or random) and the last ``stages`` residual stages, trained on the
    target and written to ``out``; resumes from its own resume file."""
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
        paths.resume(stages),
        device,
        sample_seed=options.sample_seed,
    )
    test_acc = accuracy(tuned, *model_inputs(target, "test", meta["image_size"], device))
    result = {
        **record,
        "target": target.name,
        "mode": f"finetune{stages}",
        "clean_acc": test_acc,
        "robust_acc": {},
        "trainable_stages": stages,
        "head_init": "probe" if head else "random",
        "history": history,
        "n_train": len(target.y_train),
        "n_test": len(target.y_test),
        "weights_sha256": meta["weights_sha256"],
    }
    write_json(result, out)
    log.info("fine-tuned %d stages: test accuracy %.2f%%", stages, test_acc)
