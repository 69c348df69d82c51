# Dataset distances (Cui et al.'s EMD, Task2Vec) from one reference network, and the transfer
# accuracy gap against distance (the paper's Figs. 3 and 7).


include: "distance_functions.smk"


# Features of a dataset the reference network is not transferred to (its own source), for the
# dataset distances.
rule reference_features:
    input:
        model=f"{RESULTS}/pretrain/{REFERENCE.path}/model.pt",
        dataset=dataset_cache("{dataset}"),
        code=library("reference_features", other_model_kinds(REFERENCE in ZOO)),
    output:
        features=f"{DISTANCE_DIR}/features/{{dataset}}.h5",
    log:
        f"{LOGS}/reference_features/{{dataset}}.log",
    benchmark:
        f"{BENCH}/reference_features/{{dataset}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["transfer"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        batch_size=config["transfer"]["batch_size"],
        model=dataclasses.asdict(REFERENCE),
    script:
        "../scripts/reference_features.py"


# Task2Vec: the reference network with a probe head fitted on {dataset}, and the per-filter
# diagonal Fisher of its weights.
rule task2vec_embedding:
    input:
        model=f"{RESULTS}/pretrain/{REFERENCE.path}/model.pt",
        features=get_reference_features,
        dataset=dataset_cache("{dataset}"),
        code=library("task2vec_embedding", other_model_kinds(REFERENCE in ZOO)),
    output:
        embedding=TASK2VEC_EMBEDDING,
    log:
        f"{LOGS}/task2vec_embedding/{{dataset}}.log",
    benchmark:
        f"{BENCH}/task2vec_embedding/{{dataset}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["transfer"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        task2vec=config["distance"]["task2vec"],
        probe=config["transfer"]["probe"],
        reference=REFERENCE.path,
        seed=REFERENCE.seed,
        sample_seed=config["data"]["seed"],
    script:
        "../scripts/task2vec_embedding.py"


# The distances of one measure from one source to every target, in one job (each takes a
# fraction of a second, importing POT a second).
rule dataset_distance:
    input:
        unpack(get_distance_inputs),
        code=library("dataset_distance"),
    output:
        json=f"{DISTANCE_DIR}/{{measure}}/{{source}}.json",
    log:
        f"{LOGS}/dataset_distance/{{measure}}/{{source}}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
        mem_mb=2000,
    params:
        gamma=config["distance"]["gamma"],
        reference=REFERENCE.path,
        targets=get_distance_targets,
    script:
        "../scripts/dataset_distance.py"


# Every distance in one tidy CSV, and a source-by-target matrix per measure.
rule distance_table:
    input:
        results=distance_files(),
        code=library("distance_table"),
    output:
        csv=f"{RESULTS}/tables/distance.csv",
        md=f"{RESULTS}/tables/distance.md",
        html=report(
            f"{RESULTS}/tables/distance.html",
            caption="../report/distance.rst",
            category="5. Distances",
            labels=report_labels("dataset distances behind Figs. 3 and 7"),
        ),
    log:
        f"{LOGS}/distance_table.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/distance_table.py"


# The robust-minus-standard transfer gap per target beside its distance, and Spearman's rho.
rule gap_distance_table:
    input:
        transfer=f"{RESULTS}/tables/transfer.csv",
        distance=f"{RESULTS}/tables/distance.csv",
        code=library("gap_distance_table"),
    output:
        gaps=f"{RESULTS}/tables/gap_vs_distance.csv",
        spearman=f"{RESULTS}/tables/gap_vs_distance_spearman.csv",
    log:
        f"{LOGS}/gap_distance_table.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    params:
        mode=config["distance"]["gap_mode"],
    script:
        "../scripts/gap_distance_table.py"


# Figs. 3 and 7: the gap against the distance from one source, Spearman's rho on the plot.
rule plot_gap_distance:
    input:
        gaps=f"{RESULTS}/tables/gap_vs_distance.csv",
        spearman=f"{RESULTS}/tables/gap_vs_distance_spearman.csv",
        code=library("plot_gap_distance"),
    output:
        pdf=f"{RESULTS}/figures/gap_vs_distance_{{source}}.pdf",
        png=report(
            f"{RESULTS}/figures/gap_vs_distance_{{source}}.png",
            caption="../report/gap_vs_distance.rst",
            category="5. Distances",
            labels=report_labels("Figs. 3 and 7", source="{source}"),
            subcategory="{source}",
        ),
    log:
        f"{LOGS}/plot_gap_distance/{{source}}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/plot_gap_distance.py"
