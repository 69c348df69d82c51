"""t-SNE of the representation of a fixed batch of source test images (Fig. 6)."""

import logging

import numpy as np
import pandas as pd

from advinfo.datasets.images import model_inputs
from advinfo.device import job_device
from advinfo.fileio import write_csv
from advinfo.information.tsne import tsne_embedding
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_job_model
from advinfo.nets.features import iter_features
from advinfo.plan.names import model_record

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta, ds = load_job_model(smk.input.model, smk.input.dataset, device)
    images, labels = model_inputs(
        ds, "test", meta["image_size"], device, limit=smk.params.n_images, seed=smk.params.sample_seed
    )
    z = np.concatenate([b.numpy() for b in iter_features(model, images)])
    xy = tsne_embedding(z, smk.params.perplexity, int(smk.wildcards.seed))
    points = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": [ds.classes[i] for i in labels.tolist()]})
    write_csv(points.assign(**model_record(smk.wildcards)), smk.output.csv)
    log.info("embedded %d features of dimension %d", *z.shape)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
