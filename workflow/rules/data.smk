# Datasets: built from package data or generated from a seed, cached as uint8 .npz files.


# Build one dataset and cache it under resources/.
rule prepare_dataset:
    input:
        code=library("prepare_dataset"),
    output:
        cache=dataset_cache("{dataset}"),
    log:
        f"{LOGS}/prepare_dataset/{{dataset}}.log",
    benchmark:
        f"{BENCH}/prepare_dataset/{{dataset}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
        mem_mb=2000,
    params:
        options=get_dataset_options,
    script:
        "../scripts/prepare_dataset.py"
