"""Distance between a source and a target dataset: Cui et al.'s EMD between class means of
the reference network's features, or the Task2Vec distance between their embeddings."""

import logging

from advinfo.distance import domain_emd, domain_similarity, task2vec_distance
from advinfo.features import read_features
from advinfo.fileio import write_json
from advinfo.logs import configure_logging
from advinfo.task2vec import load_embedding

log = logging.getLogger(__name__)


def _same_reference(a: dict, b: dict, paths: tuple[str, str]) -> None:
    if a["weights_sha256"] != b["weights_sha256"]:
        raise ValueError(f"{paths[0]} and {paths[1]} come from different reference weights; delete the stale one")


def main(smk) -> None:
    wc, paths = smk.wildcards, (smk.input.a, smk.input.b)
    record = {"measure": wc.measure, "source": wc.source, "target": wc.target, "reference": smk.params.reference}
    if wc.measure == "emd":
        (splits_a, attrs_a), (splits_b, attrs_b) = read_features(paths[0]), read_features(paths[1])
        _same_reference(attrs_a, attrs_b, paths)
        (za, ya), (zb, yb) = splits_a["train"], splits_b["train"]
        record["distance"] = domain_emd(za, ya, zb, yb)
        record.update(
            similarity=domain_similarity(record["distance"], smk.params.gamma),
            gamma=smk.params.gamma,
            n_source=len(ya),
            n_target=len(yb),
        )
    else:
        (fa, attrs_a), (fb, attrs_b) = load_embedding(paths[0]), load_embedding(paths[1])
        _same_reference(attrs_a, attrs_b, paths)
        record["distance"] = task2vec_distance(fa, fb)
    write_json(record, smk.output.json)
    log.info("%s distance %s -> %s: %.4g", wc.measure, wc.source, wc.target, record["distance"])


if __name__ == "__main__":
    configure_logging(snakemake.log[0])  # noqa: F821 - injected by Snakemake
    main(snakemake)  # noqa: F821
