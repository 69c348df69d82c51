"""Pretrain one network of the grid (standard or PGD), resuming after a kill, and save it."""

import logging
from pathlib import Path

import pandas as pd

from advinfo.checkpoint import save_model, weights_hash
from advinfo.data import load_dataset
from advinfo.device import job_device
from advinfo.fileio import write_csv
from advinfo.logs import configure_logging
from advinfo.pretrain import pretrain
from advinfo.train import TrainConfig

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    cfg = TrainConfig(**smk.params.train)
    ds = load_dataset(smk.input.dataset)
    log.info("pretraining %s on %s (%s, eps=%g, seed %d) on %s with %d threads", smk.wildcards.arch, ds.name,
             cfg.method, cfg.eps, cfg.seed, device, smk.threads)  # fmt: skip
    model, history, meta = pretrain(ds, smk.wildcards.arch, cfg, smk.params.image_size, smk.params.width,
                                    smk.params.monitor_size, smk.params.resume, device)  # fmt: skip
    meta["weights_sha256"] = weights_hash(model)
    save_model(model, meta, smk.output.model)
    write_csv(pd.DataFrame(history), smk.output.metrics)
    Path(smk.params.resume).unlink(missing_ok=True)
    log.info("saved %s (weights sha256 %s)", smk.output.model, meta["weights_sha256"][:16])


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
