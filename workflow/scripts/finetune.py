"""Partial fine-tuning on a target: a new head (the linear probe, or random) and the last k stages."""

import logging
from pathlib import Path

from advinfo.checkpoint import load_model
from advinfo.data import load_dataset, model_inputs
from advinfo.device import job_device
from advinfo.fileio import write_json
from advinfo.finetune import finetune
from advinfo.grid import model_record
from advinfo.logs import configure_logging
from advinfo.probe import load_probe
from advinfo.robustness import accuracy
from advinfo.train_config import TrainConfig

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    target = load_dataset(smk.input.dataset)
    stages = int(smk.wildcards.stages)
    cfg = TrainConfig.from_schema(**smk.params.train)
    head = load_probe(smk.input.head).as_linear() if smk.input.head else None
    log.info(
        "fine-tuning the last %d stages and a %s head of %s on %s",
        stages,
        "probe-initialised" if head else "random",
        smk.input.model,
        target.name,
    )
    tuned, history = finetune(
        model,
        target,
        stages,
        cfg,
        meta["image_size"],
        smk.params.monitor_size,
        head,
        smk.params.resume,
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
    write_json(record, smk.output.json)
    Path(smk.params.resume).unlink(missing_ok=True)
    log.info("test accuracy %.2f%%", test_acc)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
