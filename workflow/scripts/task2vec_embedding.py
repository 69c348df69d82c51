"""Task2Vec embedding of one dataset: the reference network with a linear probe fitted on the
dataset's features, and the per-filter diagonal Fisher of its weights on a class-balanced sample."""

import logging

import advinfo
from advinfo.datasets.images import load_dataset, model_inputs
from advinfo.device import job_device
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_model
from advinfo.nets.features import read_model_features
from advinfo.nets.models import with_head
from advinfo.nets.probe import fit_probe
from advinfo.transfer.task2vec import fisher_embedding, save_embedding

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    splits, attrs = read_model_features(smk.input.features, meta["weights_sha256"], device)
    fit = fit_probe(*splits["train"], attrs["num_classes"], seed=smk.params.seed, **smk.params.probe)
    log.info("probe head l2=%g, validation accuracies %s", fit.probe.l2, fit.val_accuracy)
    opts = smk.params.task2vec
    images, _ = model_inputs(
        load_dataset(smk.input.dataset),
        "train",
        meta["image_size"],
        device,
        limit=opts["n_images"],
        seed=smk.params.sample_seed,
        balanced=True,
    )
    network = with_head(model, fit.probe.as_linear())
    embedding, layers = fisher_embedding(network, images, opts["batch_size"], smk.params.seed)
    save_embedding(
        embedding,
        layers,
        {
            "dataset": smk.wildcards.dataset,
            "reference": smk.params.reference,
            "weights_sha256": meta["weights_sha256"],
            "n_images": len(images),
            "probe_l2": fit.probe.l2,
            "advinfo_version": advinfo.__version__,
        },
        smk.output.embedding,
    )
    log.info("Task2Vec embedding of %s: %d filters from %d images", smk.wildcards.dataset, len(embedding), len(images))


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
