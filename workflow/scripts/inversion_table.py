"""Collect every model's inversion quality into one tidy CSV and render the pivots."""

import logging

from advinfo.fileio import read_json, write_csv
from advinfo.logs import configure_logging
from advinfo.report.tables.inversion import fake_relu_note, inversion_sections, inversion_table
from advinfo.report.tables.render import write_pivots

log = logging.getLogger(__name__)

NOTE = (
    "Inversion of the representation z̄ = f_w(x) of fixed test images (source, and out-of-distribution), "
    "from N(0.5, σ) noise: plain (Eq. 3), through the weights perturbed once by the posterior noise "
    "(noise_once), and effective images (Eq. 10). Values per model: mean over images (median for iterations), "
    "mean ± std over seeds. Best per row in bold."
)


def main(smk) -> None:
    table = inversion_table([read_json(path) for path in smk.input.results])
    write_csv(table, smk.output.csv)
    note = NOTE + fake_relu_note(table)
    write_pivots(inversion_sections(table), "Inversion quality (Figs. 1-2)", note, smk.output.md, smk.output.html)
    log.info("wrote %d inversion records to %s", len(table), smk.output.csv)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
