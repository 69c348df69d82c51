"""Figs. 3 and 7: the transfer accuracy gap against the distance from one source."""

from advinfo.fileio import read_csv
from advinfo.logs import configure_logging
from advinfo.report.figures.distance import plot_gap_vs_distance
from advinfo.report.figures.shared import save_figure


def main(smk) -> None:
    fig = plot_gap_vs_distance(read_csv(smk.input.gaps), read_csv(smk.input.spearman), smk.wildcards.source)
    save_figure(fig, smk.output.pdf, smk.output.png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
