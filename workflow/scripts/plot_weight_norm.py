"""Fig. 5: ||w||₂ per pretraining epoch for every ε."""

import pandas as pd

from advinfo.fileio import read_csv
from advinfo.logs import configure_logging
from advinfo.plots import plot_weight_norm, save_figure


def main(smk) -> None:
    models = zip(smk.input.metrics, smk.params.models, strict=True)
    frames = [read_csv(path).assign(**keys) for path, keys in models]
    save_figure(plot_weight_norm(pd.concat(frames, ignore_index=True)), smk.output.pdf, smk.output.png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
