"""Build one dataset (package data or generator) and cache it atomically under resources/."""

import logging
from pathlib import Path

from advinfo.datasets.builders import BuildOptions, build_dataset
from advinfo.datasets.images import save_dataset
from advinfo.logs import configure_logging

log = logging.getLogger(__name__)


def main(smk) -> None:
    name = smk.wildcards.dataset
    how = {"download": smk.config["data"]["download"], "workers": smk.threads - 1}
    how["scratch"] = str(Path(smk.output.cache).parent)  # data.root: never the user's dataset folder
    ds = build_dataset(name, BuildOptions.from_schema(**smk.params.options, **how))
    save_dataset(ds, smk.output.cache)
    log.info(
        "%s: %d train, %d test images of shape %s, %d classes -> %s",
        name,
        len(ds.x_train),
        len(ds.x_test),
        tuple(ds.x_train.shape[1:]),
        ds.num_classes,
        smk.output.cache,
    )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
