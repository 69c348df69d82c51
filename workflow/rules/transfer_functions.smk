# Input functions and parameters of the rules in transfer.smk.
from advinfo.codedeps import other_methods


def get_finetune_params(wildcards):
    """The TrainConfig of one fine-tuning run (grid.finetune_params)."""
    return grid.finetune_params(config, int(wildcards.seed))


def get_finetune_head(wildcards):
    """The linear probe a fine-tuning run starts from, when transfer.finetune.head_init is probe."""
    if config["transfer"]["finetune"]["head_init"] != "probe":
        return []
    return f"{TRANSFER_DIR}/linear_head.pt".format(**wildcards)


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
