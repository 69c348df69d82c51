"""Training methods compared at equal ε: accuracy, robustness, transfer gap, vulnerability."""

from advinfo.fileio import read_csv
from advinfo.logs import configure_logging
from advinfo.report.figures.comparison import plot_method_comparison
from advinfo.report.figures.shared import save_figure


def main(smk) -> None:
    save_figure(plot_method_comparison(read_csv(smk.input.table)), smk.output.pdf, smk.output.png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
