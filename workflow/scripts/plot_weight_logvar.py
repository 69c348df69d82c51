"""Fig. 4: mean log-variance of the weight posterior against the training ε."""

from advinfo.fileio import read_csv
from advinfo.logs import configure_logging
from advinfo.report.figures.information import plot_logvar_vs_eps
from advinfo.report.figures.shared import save_figure


def main(smk) -> None:
    save_figure(plot_logvar_vs_eps(read_csv(smk.input.table)), smk.output.pdf, smk.output.png)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
