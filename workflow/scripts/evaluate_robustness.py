"""Clean and robust accuracy of one pretrained model over the test radii of the config, under the
evaluation attack (evaluate.attack), and the gradient-masking checks on the same model."""

import logging

from advinfo.datasets.images import model_inputs
from advinfo.device import job_device
from advinfo.fileio import write_json
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import load_job_model
from advinfo.plan.attack_specs import AttackSpec
from advinfo.plan.names import provenance_record
from advinfo.robust.curves import masking_accuracies, robustness_curve
from advinfo.robust.masking import CHECKS as MASKING_CHECKS
from advinfo.robust.masking import MaskingConfig, verdicts

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    spec = AttackSpec(**smk.params.attack)
    masking = MaskingConfig(**smk.params.masking)
    model, meta, ds = load_job_model(smk.input.model, smk.input.dataset, device)
    images, labels = model_inputs(
        ds, "test", meta["image_size"], device, limit=smk.params.n_test, seed=smk.params.sample_seed
    )
    log.info("%s on %d test images at eps %s", spec.describe(), len(labels), smk.params.epsilons)
    accs = robustness_curve(model, images, labels, smk.params.epsilons, spec, meta["num_classes"])
    record = provenance_record(
        smk.wildcards,
        meta,
        clean_acc=accs["clean"],
        robust_acc={k: v for k, v in accs.items() if k != "clean"},
        n_test=len(labels),
        attack={**smk.params.attack, "description": spec.describe(), "implementation": spec.implementation()},
    )
    write_json(record, smk.output.json)
    log.info("clean %.1f%%, robust %s", record["clean_acc"], record["robust_acc"])

    images, labels = model_inputs(
        ds, "test", meta["image_size"], device, limit=masking.n_test, seed=smk.params.sample_seed
    )
    eps = smk.params.masking_eps
    measured = masking_accuracies(model, images, labels, eps, spec.steps, spec.norm, masking, seed=spec.seed)
    passed = verdicts(measured, accs, len(labels), masking)
    write_json(
        provenance_record(
            smk.wildcards,
            meta,
            check_eps=eps,
            n_test=len(labels),
            accuracy=measured,
            curve=accs,
            checks=passed,
            passed=all(passed.values()),
            options=smk.params.masking,
        ),
        smk.output.masking,
    )
    failed = "; ".join(MASKING_CHECKS[name] for name, ok in passed.items() if not ok)
    log.info("masking checks at eps %g: %s; %s", eps, measured, f"FLAGGED: {failed}" if failed else "all pass")


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
