"""t-SNE of the representation of a fixed batch of source test images (Fig. 6)."""

import logging

import numpy as np
import pandas as pd

from advinfo.checkpoint import load_model, load_source_dataset
from advinfo.data import model_inputs
from advinfo.device import job_device
from advinfo.embedding import tsne_embedding
from advinfo.features import iter_features
from advinfo.fileio import write_csv
from advinfo.grid import model_record
from advinfo.logs import configure_logging

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    ds = load_source_dataset(smk.input.dataset, meta, smk.input.model)
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
