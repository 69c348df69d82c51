"""Clean and PGD robust accuracy of one pretrained model over the test radii of the config."""

import logging

from advinfo.checkpoint import load_model, load_source_dataset
from advinfo.data import model_inputs
from advinfo.device import job_device
from advinfo.fileio import write_json
from advinfo.grid import model_record
from advinfo.logs import configure_logging
from advinfo.robustness import robustness_curve

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    ds = load_source_dataset(smk.input.dataset, meta, smk.input.model)
    images, labels = model_inputs(
        ds, "test", meta["image_size"], device, limit=smk.params.n_test, seed=smk.params.sample_seed
    )
    accs = robustness_curve(model, images, labels, smk.params.epsilons, smk.params.steps, smk.params.norm)
    record = {
        **model_record(smk.wildcards),
        "clean_acc": accs.pop("clean"),
        "robust_acc": accs,
        "n_test": len(labels),
        "attack": {"norm": smk.params.norm, "steps": smk.params.steps, "random_start": True, "keep_best": True},
        "weights_sha256": meta.get("weights_sha256"),
    }
    write_json(record, smk.output.json)
    log.info("clean %.1f%%, robust %s", record["clean_acc"], accs)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
