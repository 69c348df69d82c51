# Input functions and parameters of the rules in pretrain.smk.
from advinfo.plan.codedeps import other_methods

IMPORTED = grid.imported_models(config)


def get_pretrain_code(wildcards):
    """The library a pretraining job runs: the shared training code and its own method's."""
    return library("pretrain", (*other_methods(wildcards.method), *other_model_kinds(zoo=False)))


def get_train_params(wildcards):
    """The TrainConfig of one model (grid.train_params)."""
    return grid.train_params(config, names.model_spec(wildcards))


def get_head_probe(wildcards):
    """The linear head's options of an encoder trained without labels (grid.head_probe)."""
    return grid.head_probe(config, wildcards.method)


def get_imported(wildcards):
    """The ``imported`` entry of the model of these wildcards, as its import reads it."""
    return grid.import_params(config, names.model_spec(wildcards))


def get_imported_images(wildcards):
    """The dataset whose classes and images stand for an imported model's source."""
    return dataset_cache(get_imported(wildcards)["images"])


def imported_source_pattern():
    """A regex matching only imported sources (one that matches nothing when there are none)."""
    names = sorted({spec.source for spec in IMPORTED})
    return "|".join(names) if names else "(?!)"
