"""One row of information measures per model, and the Prop. 0.3 check in long form."""

import logging

import pandas as pd

from advinfo.config import MODEL_KEYS
from advinfo.fileio import read_csv, read_json, write_csv
from advinfo.logs import configure_logging

log = logging.getLogger(__name__)


def main(smk) -> None:
    rows, checks = [], []
    for fisher_path, posterior_path, metrics_path in zip(smk.input.fisher, smk.input.posterior, smk.input.metrics,
                                                         strict=True):  # fmt: skip
        fisher, posterior = read_json(fisher_path), read_json(posterior_path)
        keys = {k: fisher[k] for k in MODEL_KEYS}
        rows.append({**keys, "trace": fisher["trace"], "trace_se": fisher["trace_se"], "lambda1": fisher["lambda1"],
                     "mean_logvar": posterior["mean_logvar"],
                     "weight_norm": float(read_csv(metrics_path)["weight_norm"].iloc[-1])})  # fmt: skip
        checks += [{**keys, "probe_eps": c.pop("eps"), **c} for c in fisher["prop03"]]
    write_csv(pd.DataFrame(rows), smk.output.table)
    write_csv(pd.DataFrame(checks), smk.output.prop03)
    log.info("wrote %d models to %s", len(rows), smk.output.table)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
