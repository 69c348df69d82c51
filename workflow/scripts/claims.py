"""Test every claim of the paper the config can test on this run's tables (claims.csv, .md,
.html) and write the report's landing page (what ran, the claims, the gradient-masking flags,
the estimates that did not converge)."""

import logging
from pathlib import Path

import pandas as pd

from advinfo.fileio import read_csv, read_json, write_csv, write_text
from advinfo.logs import configure_logging
from advinfo.report.claims import ClaimInputs, claims_table, untested
from advinfo.report.landing import code_version, overview_rst, unconverged_estimates
from advinfo.report.tables.render import write_pivots

log = logging.getLogger(__name__)

COLUMNS = ["statement", "compared", "measured", "test", "verdict"]

NOTE = (
    "Each claim compares the most robust model (PGD at the largest training ε) with the standard one (a "
    "published zoo network without a standard twin: with its source's Standard network), or "
    "tests a ratio against a band, each side with its 95 % interval: PASS when the intervals are apart in "
    "the claimed direction, FAIL when apart the other way, INCONCLUSIVE when they overlap or when an "
    "estimate it rests on did not converge (its row says which)."
)


def optional_csv(smk, name: str) -> pd.DataFrame | None:
    return read_csv(smk.input[name]) if name in smk.input.keys() else None


def main(smk) -> None:
    inputs = ClaimInputs(
        robustness=read_csv(smk.input.robustness),
        information=[read_json(p) for p in smk.input.information],
        inversion=read_csv(smk.input.inversion),
        transfer=optional_csv(smk, "transfer"),
        distance=optional_csv(smk, "distance"),
        spearman=optional_csv(smk, "spearman"),
        max_iters=smk.params.max_iters,
    )
    table = claims_table(inputs)
    write_csv(table, smk.output.csv)
    sections = [
        (f"Source: {source} ({arch})", block[COLUMNS].rename(columns={"statement": "claim"}))
        for (source, arch), block in table.groupby(["source", "arch"], sort=False)
    ]
    missing = untested(table)
    note = NOTE + (f" Not testable with this config: {'; '.join(missing)}." if missing else "")
    write_pivots(sections, "The paper's claims on this run", note, smk.output.md, smk.output.html)
    masking = read_csv(smk.input.masking)
    unconverged = unconverged_estimates(
        inputs.information, inputs.inversion, [read_json(p) for p in smk.input.mutual_info]
    )
    version = code_version(Path(smk.params.root))
    overview = overview_rst(smk.params.run, table, masking, unconverged, version, inputs.robustness)
    write_text(overview, smk.output.overview)
    for line in unconverged:
        log.warning("not converged: %s", line)
    for verdict, count in table["verdict"].value_counts().items():
        log.info("%s: %d claims", verdict, count)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
