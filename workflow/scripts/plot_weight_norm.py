"""Fig. 5: ||w||₂ per pretraining epoch for every ε."""

import pandas as pd

from advinfo.logs import configure_logging
from advinfo.report.figures.information import plot_weight_norm
from advinfo.report.figures.shared import save_figure
from advinfo.report.history import read_history


def main(smk) -> None:
    models = zip(smk.input.metrics, smk.params.epochs, smk.params.models, strict=True)
    frames = [read_history(path, epochs).assign(**keys) for path, epochs, keys in models]
    save_figure(plot_weight_norm(pd.concat(frames, ignore_index=True)), smk.output.pdf, smk.output.png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
