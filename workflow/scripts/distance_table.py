"""Collect every dataset distance into one tidy CSV and a source-by-target matrix per measure."""

import logging

from advinfo.fileio import read_json, write_csv
from advinfo.logs import configure_logging
from advinfo.report.tables.distance import distance_sections, distance_table
from advinfo.report.tables.render import write_pivots

log = logging.getLogger(__name__)

NOTE = (
    "EMD: Earth Mover's Distance between the class means of the reference network's features "
    "(Cui et al. 2018), each class weighted by its share of the images. Task2Vec: symmetric normalised "
    "cosine distance between the diagonal Fisher embeddings of the two tasks (Achille et al. 2019)."
)


def main(smk) -> None:
    table = distance_table([record for path in smk.input.results for record in read_json(path)])
    write_csv(table, smk.output.csv)
    write_pivots(
        distance_sections(table), "Distances between source and target datasets", NOTE, smk.output.md, smk.output.html
    )
    log.info("wrote %d distances to %s", len(table), smk.output.csv)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
