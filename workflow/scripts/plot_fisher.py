"""tr F and λ₁ of the representation about the input against ε, and the Prop. 0.3 check."""

from advinfo.fileio import read_csv
from advinfo.logs import configure_logging
from advinfo.report.figures.information import plot_fisher
from advinfo.report.figures.shared import save_figure


def main(smk) -> None:
    save_figure(plot_fisher(read_csv(smk.input.table), read_csv(smk.input.prop03)), smk.output.pdf, smk.output.png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
