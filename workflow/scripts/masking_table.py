"""Collect every model's gradient-masking checks into one tidy CSV and Markdown/HTML pivots."""

import logging

from advinfo.fileio import read_json, write_csv
from advinfo.logs import configure_logging
from advinfo.report.tables.pretraining import masking_note, masking_sections, masking_table
from advinfo.report.tables.render import write_pivots

log = logging.getLogger(__name__)


def main(smk) -> None:
    table = masking_table([read_json(path) for path in smk.input.masking])
    write_csv(table, smk.output.csv)
    write_pivots(
        masking_sections(table), "Gradient-masking checks", masking_note(table), smk.output.md, smk.output.html
    )
    flagged = table[~table["passed"]]
    for rec in flagged.itertuples(index=False):
        log.warning("FLAGGED: %s/%s/%s-eps%g-seed%d fails a gradient-masking check", *rec[:5])
    log.info("wrote %d models' checks to %s (%d flagged)", len(table), smk.output.csv, len(flagged))


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
