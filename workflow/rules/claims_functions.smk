# Input functions of the rules in claims.smk.


def get_claims_inputs(wildcards):
    """The tables the claims read: those this config produces."""
    inputs = {
        "robustness": f"{RESULTS}/tables/pretrain_robustness.csv",
        "information": model_files("information.json"),
        "inversion": f"{RESULTS}/tables/inversion.csv",
        "masking": f"{RESULTS}/tables/gradient_masking.csv",
        "mutual_info": model_files("mutual_info.json", grid.model_grid(config)),
    }
    if config["targets"]:
        inputs["transfer"] = f"{RESULTS}/tables/transfer.csv"
        inputs["distance"] = f"{RESULTS}/tables/distance.csv"
    if grid.gap_sources(config):
        inputs["spearman"] = f"{RESULTS}/tables/gap_vs_distance_spearman.csv"
    return inputs
