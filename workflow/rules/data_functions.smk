# Input functions and parameters of the rules in data.smk.
from advinfo.plan.catalog import dataset_kind
from advinfo.plan.codedeps import other_builders


def get_dataset_code(wildcards):
    """The library that builds one dataset: datasets/builders.py and the builder of its kind (not datasets/images.py,
    whose transforms and sampler serve the jobs that read the cache)."""
    kind = dataset_kind(wildcards.dataset, config["data"]["folders"])
    return library("prepare_dataset", (*other_builders(kind), "datasets.images"))


def get_dataset_options(wildcards):
    """The options that decide one dataset's content (grid.dataset_options)."""
    return grid.dataset_options(config, wildcards.dataset)
