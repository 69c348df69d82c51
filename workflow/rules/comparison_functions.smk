# Input functions and parameters of the rules in comparison.smk.
def get_comparison_inputs(wildcards):
    """Per-model records of the method comparison, and the transfer table when there are targets."""
    inputs = {
        "robustness": model_files("robustness.json", grid.model_grid(config)),
        "mutual_info": model_files("mutual_info.json", grid.model_grid(config)),
    }
    if config["targets"]:
        inputs["transfer"] = f"{RESULTS}/tables/transfer.csv"
    return inputs
