# Datasets: built from package data, generated from a seed, or read from torchvision's files or
# an image folder; cached as uint8 .npz files.


include: "data_functions.smk"


# Build one dataset and cache it under resources/.
rule prepare_dataset:
    input:
        code=get_dataset_code,
    output:
        cache=dataset_cache("{dataset}"),
    log:
        f"{LOGS}/prepare_dataset/{{dataset}}.log",
    benchmark:
        f"{BENCH}/prepare_dataset/{{dataset}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["data"]["threads"]
    resources:
        gpu=0,
        mem_mb=2000,
    params:
        options=get_dataset_options,
    script:
        "../scripts/prepare_dataset.py"
