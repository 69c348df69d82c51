# Input functions and parameters of the rules in inversion.smk.
def get_ood_dataset(wildcards):
    """The out-of-distribution dataset a model of this source inverts, or None (grid.ood_dataset)."""
    return grid.ood_dataset(config, wildcards.source)


def get_inversion_inputs(wildcards):
    """The source dataset, and the out-of-distribution one when there is one."""
    ood = get_ood_dataset(wildcards)
    return {"source": get_source_data(wildcards)} | ({"ood": dataset_cache(ood)} if ood else {})
