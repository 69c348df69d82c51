"""Fig. 6: t-SNE of the representation per model, coloured by class."""

import pandas as pd

from advinfo.fileio import read_csv
from advinfo.logs import configure_logging
from advinfo.report.figures.information import plot_tsne
from advinfo.report.figures.shared import save_figure


def main(smk) -> None:
    points = pd.concat([read_csv(path) for path in smk.input.points], ignore_index=True)
    save_figure(plot_tsne(points), smk.output.pdf, smk.output.png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
