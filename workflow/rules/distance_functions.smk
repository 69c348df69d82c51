# Input functions and parameters of the rules in distance.smk.
REFERENCE = grid.reference_model(config)


def reference_features(dataset):
    """Features of ``dataset``'s images under the distance reference network."""
    return f"{RESULTS}/features/{REFERENCE.path}/{dataset}.h5"


def get_distance_inputs(wildcards):
    """What one distance compares: reference features (EMD) or Task2Vec embeddings."""
    if wildcards.measure == "emd":
        return {"a": reference_features(wildcards.source), "b": reference_features(wildcards.target)}
    return {
        "a": TASK2VEC_EMBEDDING.format(dataset=wildcards.source),
        "b": TASK2VEC_EMBEDDING.format(dataset=wildcards.target),
    }


def distance_files():
    """Result JSON of every (measure, source, target) distance."""
    return [
        f"{DISTANCE_DIR}/{measure}/{source}/{target}.json"
        for measure in config["distance"]["measures"]
        for source in config["sources"]
        for target in config["targets"]
        if target != source
    ]
