"""Collect every transfer result into one tidy CSV and render the paper-style pivots."""

import logging

from advinfo.fileio import read_json, write_csv
from advinfo.logs import configure_logging
from advinfo.report.tables.render import INTERVAL_NOTE, pivot_sections, write_pivots
from advinfo.report.tables.transfer import robustness_long, transfer_table

log = logging.getLogger(__name__)

NOTES = {
    "linear": "Linear-probe accuracy in % on each target's test split (the paper's Tables 1-2). Best per row in bold.",
    "finetune": "Test accuracy in % after training a new head and the last K stages (finetuneK; linear = frozen "
    "features, L-BFGS probe), the paper's Table 3. Best per row in bold.",
    "robustness": "Robust accuracy in % of linear probes at each attack radius under {attack}, attacking the whole "
    "network (Lemma 0.8). Best per row in bold.",
}
TITLES = {
    "linear": "Transfer by linear probes (Tables 1-2)",
    "finetune": "Transfer by partial fine-tuning (Table 3)",
    "robustness": "Robustness of transferred linear heads (Lemma 0.8)",
}


def main(smk) -> None:
    table = transfer_table([read_json(path) for path in smk.input.results])
    write_csv(table, smk.output.csv)
    linear = table[table["mode"] == "linear"]
    sections = {
        "linear": pivot_sections(linear, ["target"], "clean_acc", n_column="n_test"),
        "finetune": pivot_sections(table, ["target", "mode"], "clean_acc", n_column="n_test"),
        "robustness": pivot_sections(robustness_long(linear), ["target", "test ε"], "accuracy", n_column="n_attacked"),
    }
    for name, secs in sections.items():
        note = f"{NOTES[name].format(attack=smk.params.attack)} {INTERVAL_NOTE}"
        write_pivots(secs, TITLES[name], note, smk.output[f"{name}_md"], smk.output[f"{name}_html"])
    log.info("wrote %d transfer results to %s", len(table), smk.output.csv)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
