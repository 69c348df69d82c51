# Input functions and parameters of the rules in transfer.smk.
from advinfo.plan.codedeps import other_methods

# Library modules a transfer job does not run: the training methods' own (it fine-tunes with
# standard training).
TRANSFER_SKIP = other_methods(grid.STANDARD)


def get_finetune_params(wildcards):
    """The TrainConfig of one fine-tuning run (grid.finetune_params)."""
    return grid.finetune_params(config, int(wildcards.seed))


def finetune_outputs():
    """Result JSON of every fine-tuning depth of one (model, target): wildcard patterns."""
    return [f"{TRANSFER_DIR}/finetune{k}.json" for k in config["transfer"]["finetune"]["stages"]]


def transfer_files():
    """Result JSON of every (model, target, mode): the linear probe and each fine-tuning depth."""
    modes = grid.transfer_modes(config["transfer"]["finetune"]["stages"])
    return [
        f"{RESULTS}/transfer/{spec.path}/{target}/{mode}.json"
        for spec in MODELS
        for target in config["targets"]
        if target != spec.source
        for mode in modes
    ]
