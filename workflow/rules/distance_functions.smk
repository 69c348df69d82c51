# Input functions and parameters of the rules in distance.smk.
REFERENCE = grid.reference_model(config)


def reference_features(dataset):
    """Features of ``dataset``'s images under the distance reference network: those of its
    transfer job for a target of the grid, else (its own source) of a job of their own."""
    if REFERENCE in MODELS and dataset in config["targets"] and dataset != REFERENCE.source:
        return f"{RESULTS}/features/{REFERENCE.path}/{dataset}.h5"
    return f"{DISTANCE_DIR}/features/{dataset}.h5"


def get_reference_features(wildcards):
    """The reference features of one job's dataset."""
    return reference_features(wildcards.dataset)


def get_distance_targets(wildcards):
    """The targets a source's distances go to: every target but the source's own images."""
    return [target for target in config["targets"] if target != grid.source_images(config, wildcards.source)]


def _measured(measure, dataset):
    """What a distance of ``measure`` reads for ``dataset``: reference features (EMD) or its
    Task2Vec embedding."""
    return reference_features(dataset) if measure == "emd" else TASK2VEC_EMBEDDING.format(dataset=dataset)


def get_distance_inputs(wildcards):
    """What one source's distances compare: the source's file (``a``) and each target's (``b``,
    in the order of get_distance_targets)."""
    return {
        "a": _measured(wildcards.measure, grid.source_images(config, wildcards.source)),
        "b": [_measured(wildcards.measure, target) for target in get_distance_targets(wildcards)],
    }


def distance_files():
    """Result JSON of every (measure, source), imported sources included (their images
    dataset's): its distances to every other target."""
    return [
        f"{DISTANCE_DIR}/{measure}/{source}.json"
        for measure in config["distance"]["measures"]
        for source in grid.all_sources(config)
        if any(target != grid.source_images(config, source) for target in config["targets"])
    ]
