"""One row of information measures per model, the Prop. 0.3 check in long form, and one JSON
per model with all of its information measures."""

import logging

import pandas as pd

from advinfo.fileio import read_json, write_csv, write_json
from advinfo.logs import configure_logging
from advinfo.plan.names import MODEL_KEYS
from advinfo.report.history import read_history

log = logging.getLogger(__name__)


def main(smk) -> None:
    rows, checks = [], []
    paths = zip(
        smk.input.fisher, smk.input.posterior, smk.input.metrics, smk.params.epochs, smk.output.models, strict=True
    )
    for fisher_path, posterior_path, metrics_path, epochs, model_json in paths:
        fisher, posterior = read_json(fisher_path), read_json(posterior_path)
        keys = {k: fisher[k] for k in MODEL_KEYS}
        norms = read_history(metrics_path, epochs)["weight_norm"]
        fit = posterior["history"][-1]  # the posterior's last epoch: its noisy loss against the clean one
        measures = {
            "trace": fisher["trace"],
            "trace_se": fisher["trace_se"],
            "lambda1": fisher["lambda1"],
            "mean_logvar": posterior["mean_logvar"],
            "posterior_converged": posterior["converged"],
            "posterior_epochs": posterior["epochs"],
            "posterior_logvar_change": posterior["change"],
            "posterior_excess": fit["excess"],
            "posterior_ce": fit["ce"],
            "posterior_ce_clean": fit["ce_clean"],
            "posterior_acc": fit["acc"],
            "posterior_acc_clean": fit["acc_clean"],
            "weight_norm": float(norms.iloc[-1]),
        }
        rows.append({**keys, **measures})
        checks += [
            {**keys, "probe_eps": c["eps"], **{k: v for k, v in c.items() if k != "eps"}} for c in fisher["prop03"]
        ]
        write_json(
            {
                **keys,
                **measures,
                "fisher": fisher,
                "posterior_layers": posterior["layers"],
                "weight_norm_per_epoch": norms.tolist(),
            },
            model_json,
        )
    write_csv(pd.DataFrame(rows), smk.output.table)
    write_csv(pd.DataFrame(checks), smk.output.prop03)
    log.info("wrote %d models to %s", len(rows), smk.output.table)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
