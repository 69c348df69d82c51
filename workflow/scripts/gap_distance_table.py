"""The robust-minus-standard transfer gap of every target beside its distance from the source,
and Spearman's rank correlation between the two."""

import logging

from advinfo.fileio import read_csv, write_csv
from advinfo.logs import configure_logging
from advinfo.transfer.gap import gap_table, spearman_table

log = logging.getLogger(__name__)


def main(smk) -> None:
    gaps = gap_table(read_csv(smk.input.transfer), read_csv(smk.input.distance), smk.params.mode)
    ranks = spearman_table(gaps)
    write_csv(gaps, smk.output.gaps)
    write_csv(ranks, smk.output.spearman)
    for row in ranks.itertuples():
        log.info(
            "%s/%s %s eps=%g, %s: Spearman rho=%.3f p=%.3g over %d targets",
            row.source,
            row.arch,
            row.method,
            row.eps,
            row.measure,
            row.rho,
            row.p_value,
            row.n_targets,
        )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
