"""Import one network trained elsewhere (imported[] in the config) as a model file of the workflow."""

import logging

import pandas as pd

import advinfo
from advinfo.datasets.images import load_classes
from advinfo.fileio import write_csv
from advinfo.logs import configure_logging
from advinfo.nets.checkpoint import save_model, weights_hash
from advinfo.nets.imported import import_checkpoint
from advinfo.nets.models import weight_norm
from advinfo.plan.zoo import is_zoo

log = logging.getLogger(__name__)


def import_network(entry: dict) -> tuple:
    """(model, info) of the entry's file, by its format."""
    if is_zoo(entry):
        from advinfo.nets.zoo import import_zoo  # imported here: only zoo models need robustbench

        return import_zoo(entry["path"], entry["sha256"], entry["name"], entry["dataset"], entry["threat"])
    return import_checkpoint(entry["path"], entry["sha256"], entry["format"], entry["arch"])


def main(smk) -> None:
    entry = smk.params.entry
    model, info = import_network(entry)
    classes = load_classes(smk.input.images)  # a checkpoint holds no class names: its images dataset's are used
    if info["num_classes"] != len(classes):
        raise ValueError(
            f"checkpoint {entry['path']} has {info['num_classes']} classes, but its imported[].images "
            f"dataset {entry['images']!r} ({smk.input.images}) has {len(classes)} — expected the dataset "
            f"the model was trained on"
        )
    meta = {
        "arch": entry["arch"],
        "source": smk.wildcards.source,
        "num_classes": info["num_classes"],
        "classes": list(classes),
        "mean": info.get("mean"),  # a zoo network normalises inside itself
        "std": info.get("std"),
        "width": 0,  # resnet_mini only
        "image_size": entry["image_size"],
        "train": {"method": smk.wildcards.method, "eps": float(smk.wildcards.eps), "imported_from": str(entry["path"])},
        "checkpoint_sha256": entry["sha256"].lower(),
        "advinfo_version": advinfo.__version__,
        "weights_sha256": weights_hash(model),
    }
    if "zoo" in info:
        meta["zoo"] = info["zoo"]
    save_model(model, meta, smk.output.model)
    # One row: the imported network's weight norm (the epoch its file records, when it does).
    write_csv(pd.DataFrame([{"epoch": info.get("epoch"), "weight_norm": weight_norm(model)}]), smk.output.metrics)
    log.info(
        "imported %s (%s, %d classes, epoch %s) -> %s",
        entry["path"],
        entry["format"],
        info["num_classes"],
        info.get("epoch"),
        smk.output.model,
    )


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
