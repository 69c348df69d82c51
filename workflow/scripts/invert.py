"""Inversion, noise-once inversion and effective images of fixed source and out-of-distribution
test images under one model, feature visualisation, and their quality."""

from advinfo.datasets.images import load_dataset
from advinfo.device import job_device
from advinfo.fileio import write_json
from advinfo.information.inversion_job import inversion_images, invert_model
from advinfo.information.inversion_store import save_inversion
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_job_model
from advinfo.plan.names import provenance_record


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta, source = load_job_model(smk.input.model, smk.input.source, device)
    ood = load_dataset(smk.input.ood) if smk.params.ood else None
    opts = smk.params.options
    images, labels, in_dist = inversion_images(source, ood, opts, meta["image_size"], device, smk.params.sample_seed)
    arrays, records = invert_model(model, smk.input.posterior, images, labels, in_dist, opts, int(smk.wildcards.seed))
    attrs = provenance_record(smk.wildcards, meta, ood_dataset=smk.params.ood or "")
    save_inversion(smk.output.h5, arrays, attrs)
    extra = {"ood_dataset": smk.params.ood, "loss_threshold": opts["loss_threshold"], "records": records}
    write_json({**attrs, **extra}, smk.output.json)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
