"""Pretrain one network of the grid (standard, pgd, trades, arat or wcmi; data-parallel over pretrain.gpus
processes when that is above 1), resuming after a kill, and save it."""

import logging
from pathlib import Path

from advinfo.device import job_devices
from advinfo.distributed import launch
from advinfo.logs import configure_logging
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.loop import Accel
from advinfo.training.pretrain import PretrainJob, run_pretrain_job

log = logging.getLogger(__name__)


def main(smk) -> None:
    pre = smk.config["pretrain"]  # read here, not as params: changing them retrains nothing
    devices = job_devices(smk.threads, int(pre["gpus"]))
    job = PretrainJob(
        dataset=smk.input.dataset,
        arch=smk.wildcards.arch,
        cfg=TrainConfig.from_schema(**smk.params.train),
        image_size=smk.params.image_size,
        width=smk.params.width,
        monitor_size=smk.params.monitor_size,
        sample_seed=smk.params.sample_seed,
        head_probe=smk.params.head_probe,
        resume=smk.params.resume,
        model_out=smk.output.model,
        metrics_out=smk.output.metrics,
        accel=Accel(
            channels_last=pre["channels_last"],
            compile=pre["compile"],
            graph=pre["cuda_graph"] and devices[0].type == "cuda",  # on a CPU, the eager reference loop
        ),
        threads=max(1, smk.threads // len(devices)),
        log_file=smk.log[0],
    )
    log.info(
        "pretraining %s on %s (%s, eps=%g, seed %d) on %s with %d threads",
        job.arch,
        smk.wildcards.source,
        job.cfg.method,
        job.cfg.eps,
        job.cfg.seed,
        ", ".join(map(str, devices)),
        smk.threads,
    )
    if len(devices) == 1:
        run_pretrain_job(devices[0], job)
    else:
        launch(run_pretrain_job, [str(d) for d in devices], job)
    Path(smk.params.resume).unlink(missing_ok=True)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
