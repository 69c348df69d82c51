"""Linear probe on frozen features (penalty chosen on a validation split), scored clean and
under the evaluation attack through the whole network."""

import logging

from advinfo.checkpoint import load_model
from advinfo.data import load_dataset, model_inputs
from advinfo.device import job_device
from advinfo.evaluation import AttackSpec
from advinfo.features import read_model_features
from advinfo.fileio import write_json
from advinfo.grid import model_record
from advinfo.logs import configure_logging
from advinfo.models import with_head
from advinfo.probe import fit_probe, save_probe
from advinfo.robustness import robustness_curve

log = logging.getLogger(__name__)


def main(smk) -> None:
    device = job_device(smk.threads)
    model, meta = load_model(smk.input.model, device)
    splits, attrs = read_model_features(smk.input.features, meta["weights_sha256"], device)
    (z_train, y_train), (z_test, y_test) = splits["train"], splits["test"]
    fit = fit_probe(z_train, y_train, attrs["num_classes"], seed=int(smk.wildcards.seed), **smk.params.probe)
    test_acc = fit.probe.accuracy(z_test, y_test)
    log.info("probe l2=%g: test accuracy %.2f%% (%d L-BFGS iterations)", fit.probe.l2, test_acc, fit.iterations)

    attack = smk.params.attack
    network = with_head(model, fit.probe.as_linear())
    images, labels = model_inputs(
        load_dataset(smk.input.dataset),
        "test",
        meta["image_size"],
        device,
        limit=attack["n_test"],
        seed=smk.params.sample_seed,
    )
    spec = AttackSpec(**attack["spec"])
    curve = robustness_curve(network, images, labels, attack["epsilons"], spec, attrs["num_classes"])
    record = {
        **model_record(smk.wildcards),
        "target": smk.wildcards.target,
        "mode": "linear",
        "clean_acc": test_acc,
        "robust_acc": {k: v for k, v in curve.items() if k != "clean"},
        "attacked_clean_acc": curve["clean"],
        "attack": {**attack, "description": spec.describe()},
        "n_attacked": len(labels),
        "l2": fit.probe.l2,
        "val_accuracy": {f"{k:g}": v for k, v in fit.val_accuracy.items()},
        "lbfgs_iterations": fit.iterations,
        "n_train": len(y_train),
        "n_test": len(y_test),
        "weights_sha256": meta["weights_sha256"],
    }
    save_probe(fit.probe, smk.output.head)
    write_json(record, smk.output.json)
    log.info("robust accuracy of the probed network: %s", record["robust_acc"])


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
