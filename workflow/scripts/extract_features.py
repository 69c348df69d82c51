"""Representation z of a target dataset's train and test images under one pretrained model, to HDF5."""

import logging

import advinfo
from advinfo.checkpoint import load_model
from advinfo.data import load_dataset, model_inputs
from advinfo.device import job_device
from advinfo.features import SPLITS, write_features
from advinfo.grid import model_record
from advinfo.logs import configure_logging

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    target = load_dataset(smk.input.dataset)
    splits = {s: model_inputs(target, s, meta["image_size"], device) for s in SPLITS}
    attrs = {
        **model_record(smk.wildcards),
        "target": target.name,
        "num_classes": target.num_classes,
        "classes": list(target.classes),
        "image_size": meta["image_size"],
        "weights_sha256": meta["weights_sha256"],
        "advinfo_version": advinfo.__version__,
    }
    write_features(smk.output.features, model, splits, attrs, smk.params.batch_size)
    log.info(
        "wrote %s: %s features of %d train and %d test images of %s",
        smk.output.features,
        model.feature_dim,
        len(splits["train"][1]),
        len(splits["test"][1]),
        target.name,
    )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
