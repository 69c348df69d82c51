"""Fisher information of the representation about the input: tr(JᵀJ), λ₁ and the Prop. 0.3 check."""

import logging

from advinfo.datasets.images import model_inputs, to_unit
from advinfo.device import job_device
from advinfo.fileio import write_json
from advinfo.information.fisher import fisher_measures
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_job_model
from advinfo.plan.names import provenance_record

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta, ds = load_job_model(smk.input.model, smk.input.dataset, device)
    opts = smk.params.options
    images, _ = model_inputs(
        ds, "test", meta["image_size"], device, limit=opts["n_images"], seed=smk.params.sample_seed
    )
    measures = fisher_measures(
        model.features,
        to_unit(images),
        opts["probes"],
        opts["power_iters"],
        opts["check_epsilons"],
        opts["check_steps"],
        opts["directions"],
    )
    write_json(provenance_record(smk.wildcards, meta, **measures), smk.output.json)
    log.info(
        "tr F = %.4g ± %.2g, lambda1 = %.4g over %d images",
        measures["trace"],
        measures["trace_se"],
        measures["lambda1"],
        measures["n_images"],
    )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
