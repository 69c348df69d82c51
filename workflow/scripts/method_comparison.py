"""Clean and robust accuracy, transfer gap and representation vulnerability of every training
method at equal ε: a tidy CSV, and Markdown/HTML pivots."""

import logging

from advinfo.fileio import read_csv, read_json, write_csv
from advinfo.logs import configure_logging
from advinfo.report.tables.comparison import comparison_sections, comparison_table
from advinfo.report.tables.render import INTERVAL_NOTE, write_pivots

log = logging.getLogger(__name__)

NOTE = (
    "Robust accuracy: {attack} at the compared ε on the source test images. Transfer gap: the mean over "
    "targets of the model's transfer accuracy minus the standard model's (points of %). Vulnerability: "
    "I(X;Z) on clean images minus its worst case within ε (nats; lower is more robust). wcmi learns "
    "without labels; its accuracies are those of a linear probe on its features."
)


def main(smk) -> None:
    transfer = read_csv(smk.input.transfer) if "transfer" in smk.input.keys() else None
    table = comparison_table(
        [read_json(p) for p in smk.input.robustness],
        [read_json(p) for p in smk.input.mutual_info],
        transfer,
        smk.params.radii,
        smk.params.mode,
    )
    write_csv(table, smk.output.csv)
    note = f"{NOTE.format(attack=smk.params.attack)} {INTERVAL_NOTE}"
    write_pivots(comparison_sections(table), "Training methods at equal ε", note, smk.output.md, smk.output.html)
    log.info("compared %d models at ε in %s", len(table), smk.params.radii)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
