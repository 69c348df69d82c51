"""Transfer of one pretrained model to one target: its features to HDF5, the linear probe on
them (scored clean and under the evaluation attack through the whole network), then partial
fine-tuning of every depth from that probe. One job, because each part takes seconds and a job
of its own would pay the start-up (torch, the model, the dataset) again; each part keeps its
own output file."""

import logging
from pathlib import Path

from advinfo.checkpoint import load_model
from advinfo.data import ImageDataset, load_dataset, model_inputs, train_subset
from advinfo.device import job_device
from advinfo.evaluation import AttackSpec
from advinfo.features import extract_features, read_model_features
from advinfo.fileio import write_json
from advinfo.finetune import finetune
from advinfo.grid import model_record
from advinfo.logs import configure_logging
from advinfo.models import Classifier, with_head
from advinfo.probe import LinearProbe, fit_probe, save_probe
from advinfo.robustness import accuracy, robustness_curve
from advinfo.train_config import TrainConfig

log = logging.getLogger(__name__)


def probe(smk, model: Classifier, meta: dict, target: ImageDataset, device) -> LinearProbe:
    """Logistic regression on the frozen features (penalty chosen on a validation split), then
    the evaluation attack through the whole network with the probe as its head."""
    splits, attrs = read_model_features(smk.output.features, meta["weights_sha256"], device)
    (z_train, y_train), (z_test, y_test) = splits["train"], splits["test"]
    fit = fit_probe(z_train, y_train, attrs["num_classes"], seed=int(smk.wildcards.seed), **smk.params.probe)
    test_acc = fit.probe.accuracy(z_test, y_test)
    log.info("probe l2=%g: test accuracy %.2f%% (%d L-BFGS iterations)", fit.probe.l2, test_acc, fit.iterations)
    attack = smk.params.attack
    images, labels = model_inputs(
        target, "test", meta["image_size"], device, limit=attack["n_test"], seed=smk.params.sample_seed
    )
    spec = AttackSpec(**attack["spec"])
    network = with_head(model, fit.probe.as_linear())
    curve = robustness_curve(network, images, labels, attack["epsilons"], spec, attrs["num_classes"])
    record = {
        **model_record(smk.wildcards),
        "target": smk.wildcards.target,
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
    save_probe(fit.probe, smk.output.head)
    write_json(record, smk.output.linear)
    log.info("robust accuracy of the probed network: %s", record["robust_acc"])
    return fit.probe


def tune(
    smk, model: Classifier, meta: dict, target: ImageDataset, head: LinearProbe | None, stages: int, device
) -> None:
    """A new head (the probe, or random) and the last ``stages`` residual stages, trained on the
    target; resumes from its own resume file, kept until every stage of the job is done."""
    cfg = TrainConfig.from_schema(**smk.params.train)
    log.info("fine-tuning the last %d stages and a %s head", stages, "probe-initialised" if head else "random")
    tuned, history = finetune(
        model,
        target,
        stages,
        cfg,
        meta["image_size"],
        smk.params.monitor_size,
        head.as_linear() if head else None,
        resume_path(smk, stages),
        device,
        sample_seed=smk.params.sample_seed,
    )
    test_acc = accuracy(tuned, *model_inputs(target, "test", meta["image_size"], device))
    record = {
        **model_record(smk.wildcards),
        "target": smk.wildcards.target,
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
    write_json(record, smk.output.finetune[smk.params.stages.index(stages)])
    log.info("fine-tuned %d stages: test accuracy %.2f%%", stages, test_acc)


def resume_path(smk, stages: int) -> Path:
    """Where the fine-tuning of the last ``stages`` stages keeps its state between epochs."""
    return Path(smk.params.resume_dir) / f"resume-finetune{stages}.pt"


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    target = train_subset(load_dataset(smk.input.dataset), smk.params.n_train, smk.params.sample_seed)
    log.info("transfer of %s to %s (%d training images)", smk.input.model, target.name, len(target.y_train))
    record = model_record(smk.wildcards)
    extract_features(smk.output.features, model, target, record, meta, device, smk.params.batch_size)
    head = probe(smk, model, meta, target, device)
    for stages in smk.params.stages:
        tune(smk, model, meta, target, head if smk.params.head_init == "probe" else None, stages, device)
    for stages in smk.params.stages:
        resume_path(smk, stages).unlink(missing_ok=True)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
