"""Representation z of a dataset's train and test images under the distance reference network,
to HDF5: the datasets the reference is not transferred to (its own source)."""

import logging

from advinfo.datasets.images import load_dataset
from advinfo.device import job_device
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_model
from advinfo.nets.features import extract_features

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    dataset = load_dataset(smk.input.dataset)
    extract_features(smk.output.features, model, dataset, smk.params.model, meta, device, smk.params.batch_size)
    log.info("wrote %s: features of %s under %s", smk.output.features, dataset.name, smk.input.model)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
