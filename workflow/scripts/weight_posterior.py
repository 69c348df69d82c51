"""Diagonal Gaussian posterior of the weights around the trained ones (Def. 0.5, Fig. 4)."""

import logging

from advinfo.datasets.images import model_inputs, to_unit
from advinfo.device import job_device
from advinfo.fileio import write_json
from advinfo.information.posterior import (
    PosteriorConfig,
    fit_posterior,
    layer_summary,
    save_posterior,
)
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_job_model
from advinfo.plan.names import provenance_record

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta, ds = load_job_model(smk.input.model, smk.input.dataset, device)
    cfg = PosteriorConfig(**smk.params.posterior, seed=int(smk.wildcards.seed))
    images, labels = model_inputs(ds, "train", meta["image_size"], device)
    logvar, history, fit = fit_posterior(model, to_unit(images), labels, cfg)
    record = provenance_record(smk.wildcards, meta)
    save_posterior(logvar, {**record, "prior_std": cfg.prior_std, "delta": cfg.delta}, smk.output.h5)
    layers = layer_summary(logvar)
    write_json(
        {
            **record,
            "mean_logvar": layers[-1]["mean_logvar"],
            **fit.record("epochs"),
            "layers": layers,
            "history": history,
            "config": vars(cfg),
        },
        smk.output.json,
    )
    for row in history:
        log.info(
            "epoch %d: mean log-variance %.3f (change %+.3f), loss excess %.3f (delta %g), multiplier %.3g",
            row["epoch"],
            row["mean_logvar"],
            row["logvar_change"],
            row["excess"],
            cfg.delta,
            row["multiplier"],
        )
    last = history[-1]
    log.info(
        "mean log-variance %.3f (prior std %g), %s after %d epochs (last change %.3f); last epoch: CE %.3f "
        "under noise vs %.3f clean (delta %g), accuracy %.1f%% vs %.1f%%",
        layers[-1]["mean_logvar"],
        cfg.prior_std,
        "converged" if fit.converged else "NOT converged",
        fit.iterations,
        fit.change,
        last["ce"],
        last["ce_clean"],
        cfg.delta,
        100 * last["acc"],
        100 * last["acc_clean"],
    )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
