"""Collect every model's robustness and final weight norm into one tidy CSV and a Markdown pivot."""

import logging

from advinfo.fileio import read_json, write_csv, write_text
from advinfo.logs import configure_logging
from advinfo.report.history import read_history
from advinfo.report.tables.pretraining import (
    leaderboard_checks,
    robustness_markdown,
    robustness_table,
    with_leaderboard,
)

log = logging.getLogger(__name__)


def main(smk) -> None:
    records = [read_json(path) for path in smk.input.robustness]
    histories = zip(smk.input.metrics, smk.params.epochs, strict=True)
    final_norms = [float(read_history(path, epochs)["weight_norm"].iloc[-1]) for path, epochs in histories]
    table = robustness_table(records, final_norms)
    checks = leaderboard_checks(table, records, smk.params.leaderboards)
    table = with_leaderboard(table, checks)
    write_csv(table, smk.output.csv)
    write_text(robustness_markdown(table, smk.params.attack, checks), smk.output.markdown)
    log.info("wrote %d rows to %s", len(table), smk.output.csv)
    for check in checks:
        if check["flag"]:
            log.warning(
                "%s: leaderboard %s accuracy %.2f is outside ours",
                check["model"],
                check["measure"],
                check["leaderboard"],
            )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
