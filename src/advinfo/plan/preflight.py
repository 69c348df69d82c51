"""Checks, while Snakemake parses the workflow, of everything the config and the datasets' known
sizes decide, so that a config that would fail inside a job (after hours of pretraining, at
paper scale) fails before the first one, with one line per problem naming the key.

Runs after the schema has filled the defaults; dataset sizes come from ``catalog.py`` (image
folders are counted when they exist). Torch-free.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from advinfo.plan.attack_specs import AUTOATTACK_MIN_CLASSES
from advinfo.plan.catalog import DatasetFacts, dataset_facts, dataset_kind, folder_counts
from advinfo.plan.checks import ConfigError, check_consistency, check_schema, expand_user_paths
from advinfo.plan.grid import ARCH_STAGES, WIDE_ARCHS, all_models, method_epsilons, source_images
from advinfo.plan.methods import method_stage_keys
from advinfo.plan.schema import fill_defaults, load_schema

Problems = Iterator[str]


def prepare_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check ``config`` and complete it in place, before any job runs: the schema, its defaults
    filled, ``~`` expanded, the rules across keys, and what the datasets' sizes and the
    architectures allow. Each step raises :class:`ConfigError`, one line per problem."""
    schema = load_schema(schema_path)
    check_schema(config, schema)
    fill_defaults(config, schema)
    expand_user_paths(config)
    check_consistency(config)
    check_feasibility(config)
    return config


def check_feasibility(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` listing every problem a job of this config would run into."""
    problems = [
        *_folder_problems(config),
        *_probe_split_problems(config),
        *_training_problems(config),
        *_information_problems(config),
        *_evaluation_problems(config),
    ]
    if problems:
        body = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"config cannot run ({len(problems)} problem{'s' * (len(problems) > 1)}):\n{body}")


def _folder_problems(config: dict[str, Any]) -> Problems:
    """An existing image folder must have train/ and test/ with the same, non-empty class folders."""
    for name, path in config["data"]["folders"].items():
        counts = folder_counts(path)
        key = f"config key 'data.folders.{name}': {path}"
        if not counts:
            continue  # not there yet: prepare_dataset says where it looked
        if set(counts) != {"train", "test"}:
            missing = ({"train", "test"} - set(counts)).pop()
            yield f"{key} has no {missing}/ folder — expected train/<class>/<image> and test/<class>/<image>"
            continue
        if set(counts["train"]) != set(counts["test"]):
            odd = sorted(set(counts["train"]) ^ set(counts["test"]))
            yield (
                f"{key}: class folders {', '.join(odd[:5])} are in only one of train/ and test/ — expected "
                f"the same class folders in both"
            )
        for split, classes in counts.items():
            empty = sorted(c for c, n in classes.items() if n == 0)
            if empty:
                yield (
                    f"{key}: {split}/{empty[0]} holds no image ({len(empty)} such class folders)"
                    " — expected images in every class folder"
                )


def _probed(config: dict[str, Any]) -> Iterator[tuple[str, float, str, str, int | None]]:
    """(dataset, validation fraction, its config key, what the probe is for, the cap on its training
    images or None) of every linear probe whose validation split the config asks for."""
    val_fraction = config["transfer"]["probe"]["val_fraction"]
    models = all_models(config)
    for target in config["targets"]:
        if any(spec.source != target for spec in models):
            yield (
                target,
                val_fraction,
                "transfer.probe.val_fraction",
                "its linear probes",
                config["transfer"]["n_train"],
            )
    if "task2vec" in config["distance"]["measures"]:
        pairs = [(s, t) for s in config["sources"] for t in config["targets"] if t != s]
        for name in dict.fromkeys(name for pair in pairs for name in pair):
            yield name, val_fraction, "transfer.probe.val_fraction", "its Task2Vec probe head", None
    pre = config["pretrain"]
    if "wcmi" in pre["methods"] and method_epsilons(pre, "wcmi"):
        for source in config["sources"]:
            yield source, val_fraction, "transfer.probe.val_fraction", "the linear head of its wcmi encoders", None


def _probe_split_problems(config: dict[str, Any]) -> Problems:
    """A stratified validation split needs two images of every class, and both parts at least one
    image per class (probe.validation_split refuses otherwise)."""
    seen = set()
    for name, fraction, key, purpose, cap in _probed(config):
        facts = dataset_facts(name, config["data"])
        cap = cap if facts is not None and cap is not None and cap < facts.n_train else None
        if facts is None or (name, fraction, cap) in seen:
            continue
        seen.add((name, fraction, cap))
        size_key = "data.n_train" if dataset_kind(name, config["data"]["folders"]) == "generated" else None
        if cap is not None:  # transfer.n_train: every class equally
            smallest = min(facts.train_smallest, cap // facts.classes)
            facts, size_key = dataclasses.replace(facts, n_train=cap, train_smallest=smallest), "transfer.n_train"
        yield from _split_problems(name, facts, fraction, key, purpose, size_key)


def _split_problems(
    name: str, facts: DatasetFacts, fraction: float, key: str, purpose: str, size_key: str | None
) -> Problems:
    """``size_key``: the config key that sets the training images (data.n_train of a generated
    dataset, transfer.n_train of a capped target), or None (an image folder's or a fixed size)."""
    n, classes = facts.n_train, facts.classes
    if facts.train_smallest < 2:
        if size_key is not None:
            yield (
                f"config key '{size_key}': {n} gives {name!r} ({classes} classes) {facts.train_smallest} training "
                f"image in a class — expected at least {2 * classes}, two per class, for the stratified validation "
                f"split of {purpose}"
            )
        else:
            yield (
                f"config key 'data.folders.{name}': train/{facts.smallest_class} holds {facts.train_smallest} "
                f"image — expected at least 2 per class, for the stratified validation split of {purpose}"
            )
        return
    held_out = math.ceil(fraction * n)  # as probe.validation_split rounds it
    larger = f" (or a larger {size_key})" if size_key is not None else ""
    if held_out < classes:
        least = math.ceil(1000 * classes / n) / 1000
        yield (
            f"config key '{key}': {fraction:g} holds out {held_out} of the {n} training images of {name!r} for "
            f"{purpose}, fewer than its {classes} classes — expected at least {least:g}{larger}"
        )
    elif n - held_out < classes:
        most = math.floor(1000 * (n - classes) / n) / 1000
        yield (
            f"config key '{key}': {fraction:g} leaves {n - held_out} of the {n} training images of {name!r} to fit "
            f"{purpose}, fewer than its {classes} classes — expected at most {most:g}{larger}"
        )


def _training_problems(config: dict[str, Any]) -> Problems:
    """A trained method's stage hyperparameters (AR-AT's layer; Method.stage_hyperparameters) must
    name a stage of every architecture; a width must be one the architecture takes; a batch must
    split over the GPUs."""
    pre = config["pretrain"]
    stage_keys = [key for m in pre["methods"] if method_epsilons(pre, m) for key in method_stage_keys(m)]
    for key in stage_keys:
        for arch in config["archs"]:
            stages = ARCH_STAGES[arch]
            if not -stages <= pre[key] < stages:
                yield (
                    f"config key 'pretrain.{key}': {pre[key]} is not a stage of {arch} ({stages} stages) — "
                    f"expected an integer from {-stages} to {stages - 1}"
                )
    width = config["model"]["width"]
    for arch in config["archs"]:
        if width is not None and arch not in WIDE_ARCHS:
            yield (
                f"config key 'model.width': {width} does not apply to {arch}, which has its standard width — "
                f"expected null, or archs among {', '.join(WIDE_ARCHS)}"
            )
    batch, gpus = pre["batch_size"], pre["gpus"]
    if batch % gpus:
        yield (
            f"config key 'pretrain.batch_size': {batch} does not split over pretrain.gpus = {gpus} processes "
            f"— expected a multiple of {gpus}"
        )
    elif batch // gpus < 2:
        yield (
            f"config key 'pretrain.batch_size': {batch} gives each of the {gpus} processes {batch // gpus} image "
            f"— expected at least {2 * gpus}, two per process (BatchNorm trains on two or more)"
        )


def _information_problems(config: dict[str, Any]) -> Problems:
    """t-SNE's perplexity must be below the images it embeds; each of the mutual information's
    folds must hold pairs."""
    info = config["information"]
    tsne = info["tsne"]
    models = all_models(config)
    for name in dict.fromkeys(source_images(config, spec.source) for spec in models):
        facts = dataset_facts(name, config["data"])
        n = min(tsne["n_images"], facts.n_test) if facts else tsne["n_images"]
        if tsne["perplexity"] >= n:
            yield (
                f"config key 'information.tsne.perplexity': {tsne['perplexity']:g} is not below the {n} test images "
                f"of {name!r} t-SNE embeds (information.tsne.n_images) — expected less than {n}"
            )
    mi = info["mutual_info"]
    for name in dict.fromkeys(config["sources"]):
        facts = dataset_facts(name, config["data"])
        n = min(mi["n_images"], facts.n_train) if facts else mi["n_images"]
        if n // mi["folds"] < 2:  # as mutual_info.cross_fitted_estimate
            yield (
                f"config key 'information.mutual_info.folds': {mi['folds']} folds of the {n} image pairs of "
                f"{name!r} hold fewer than 2 pairs each — expected fewer folds or more "
                f"information.mutual_info.n_images"
            )


def _evaluation_problems(config: dict[str, Any]) -> Problems:
    """AutoAttack needs 4 classes or more in every dataset it attacks (sources, and targets whose
    transferred heads are attacked)."""
    if config["evaluate"]["attack"] != "autoattack":
        return
    attacked = [source_images(config, spec.source) for spec in all_models(config)] + list(config["targets"])
    for name in dict.fromkeys(attacked):
        facts = dataset_facts(name, config["data"])
        if facts is not None and facts.classes < AUTOATTACK_MIN_CLASSES:
            yield (
                f"config key 'evaluate.attack': autoattack needs {AUTOATTACK_MIN_CLASSES} classes or more, "
                f"{name!r} has {facts.classes} — expected apgd-ce or pgd for it"
            )
