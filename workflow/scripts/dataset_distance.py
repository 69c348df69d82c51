"""Distances from a source dataset to every target: Cui et al.'s EMD between class means of the
reference network's features, or the Task2Vec distance between their embeddings."""

import logging

from advinfo.fileio import write_json
from advinfo.logs import configure_logging
from advinfo.nets.features import read_features
from advinfo.transfer.distance import domain_emd, domain_similarity, task2vec_distance
from advinfo.transfer.task2vec import load_embedding

log = logging.getLogger(__name__)


def _same_reference(a: dict, b: dict, paths: tuple[str, str]) -> None:
    if a["weights_sha256"] != b["weights_sha256"]:
        raise ValueError(f"{paths[0]} and {paths[1]} come from different reference weights; delete the stale one")


def distance(measure: str, paths: tuple[str, str], gamma: float) -> dict:
    """The ``measure`` distance between the files of a source and a target, with its details."""
    if measure == "emd":
        (splits_a, attrs_a), (splits_b, attrs_b) = read_features(paths[0]), read_features(paths[1])
        _same_reference(attrs_a, attrs_b, paths)
        (za, ya), (zb, yb) = splits_a["train"], splits_b["train"]
        emd = domain_emd(za, ya, zb, yb)
        return {
            "distance": emd,
            "similarity": domain_similarity(emd, gamma),
            "gamma": gamma,
            "n_source": len(ya),
            "n_target": len(yb),
        }
    (fa, attrs_a), (fb, attrs_b) = load_embedding(paths[0]), load_embedding(paths[1])
    _same_reference(attrs_a, attrs_b, paths)
    return {"distance": task2vec_distance(fa, fb)}


def main(smk) -> None:
    wc, records = smk.wildcards, []
    for target, path in zip(smk.params.targets, smk.input.b, strict=True):
        record = {"measure": wc.measure, "source": wc.source, "target": target, "reference": smk.params.reference}
        records.append(record | distance(wc.measure, (smk.input.a, path), smk.params.gamma))
        log.info("%s distance %s -> %s: %.4g", wc.measure, wc.source, target, records[-1]["distance"])
    write_json(records, smk.output.json)


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
