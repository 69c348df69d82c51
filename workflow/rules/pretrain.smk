# Pretraining: standard (eps 0) and adversarial networks per (source, arch, method, eps, seed),
# their robustness over a grid of test radii, and the table that collects them.


include: "pretrain_functions.smk"


# Train one network; resumes from results/.../resume.pt (not an output) after a kill. Every
# later stage waits for the networks, so they go first whenever a core is free.
rule pretrain:
    input:
        dataset=dataset_cache("{source}"),
        code=get_pretrain_code,
    output:
        model=f"{MODEL_DIR}/model.pt",
        metrics=f"{MODEL_DIR}/metrics.csv",
    log:
        f"{LOGS}/pretrain/{{source}}/{{arch}}/{{method}}-eps{{eps}}-seed{{seed}}.log",
    benchmark:
        f"{BENCH}/pretrain/{{source}}/{{arch}}/{{method}}-eps{{eps}}-seed{{seed}}.tsv"
    priority: 10
    conda:
        "../../envs/torch.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        gpu=config["pretrain"]["gpus"],
        mem_mb=4000,
    params:
        train=get_train_params,
        width=config["model"]["width"],
        image_size=config["data"]["image_size"],
        monitor_size=config["pretrain"]["monitor_size"],
        sample_seed=config["data"]["seed"],
        head_probe=get_head_probe,
        resume=f"{MODEL_DIR}/resume.pt",
    script:
        "../scripts/pretrain.py"


# A network trained elsewhere (imported): its checkpoint, checked against the pinned SHA-256
# and read as tensors only, becomes a model file like a pretrained one, with the class names of
# its images dataset (whose class count must be the checkpoint's). The file is a param, not an
# input: a dry run plans without it, and its pinned hash (a param) decides reruns.
rule import_model:
    input:
        images=get_imported_images,
        code=model_code("import_model"),
    output:
        model=f"{MODEL_DIR}/model.pt",
        metrics=f"{MODEL_DIR}/metrics.csv",
    log:
        f"{LOGS}/import_model/{{source}}/{{arch}}/{{method}}-eps{{eps}}-seed{{seed}}.log",
    wildcard_constraints:
        source=imported_source_pattern(),
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
        mem_mb=4000,
    params:
        entry=get_imported,
    script:
        "../scripts/import_model.py"


ruleorder: import_model > pretrain


# Clean and robust accuracy (evaluate.attack) of one model at every test radius of
# evaluate.epsilons and at the radii where training methods are compared; and the
# gradient-masking checks on the same model (one job: one model load, one start-up).
rule evaluate_robustness:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=get_source_data,
        code=model_code("evaluate_robustness"),
    output:
        json=f"{MODEL_DIR}/robustness.json",
        masking=f"{MODEL_DIR}/masking.json",
    log:
        f"{LOGS}/evaluate_robustness/{{source}}/{{arch}}/{{method}}-eps{{eps}}-seed{{seed}}.log",
    benchmark:
        f"{BENCH}/evaluate_robustness/{{source}}/{{arch}}/{{method}}-eps{{eps}}-seed{{seed}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        epsilons=grid.evaluation_radii(config),
        attack=grid.evaluation_attack_fields(config),
        n_test=config["evaluate"]["n_test"],
        sample_seed=config["data"]["seed"],
        masking=grid.masking_options(config),
        masking_eps=grid.masking_radius(config),
    script:
        "../scripts/evaluate_robustness.py"


# The gradient-masking checks of every model in one table, failures flagged.
rule masking_table:
    input:
        masking=model_files("masking.json"),
        code=library("masking_table"),
    output:
        csv=f"{RESULTS}/tables/gradient_masking.csv",
        md=f"{RESULTS}/tables/gradient_masking.md",
        html=report(
            f"{RESULTS}/tables/gradient_masking.html",
            caption="../report/gradient_masking.rst",
            category="1. Pretraining",
            labels=report_labels("gradient-masking checks"),
        ),
    log:
        f"{LOGS}/masking_table.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/masking_table.py"


# One row per model: clean and robust accuracy, final weight norm; plus a Markdown pivot.
rule pretrain_table:
    input:
        robustness=model_files("robustness.json"),
        metrics=model_files("metrics.csv"),
        code=library("pretrain_table"),
    output:
        csv=f"{RESULTS}/tables/pretrain_robustness.csv",
        markdown=report(
            f"{RESULTS}/tables/pretrain_robustness.md",
            caption="../report/pretrain_robustness.rst",
            category="1. Pretraining",
            labels=report_labels("robustness of the pretrained models"),
        ),
    log:
        f"{LOGS}/pretrain_table.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    params:
        epochs=grid.history_epochs(config),
        attack=attack_specs.describe_attack(grid.evaluation_attack_fields(config)),
        leaderboards=grid.leaderboards(config),
    script:
        "../scripts/pretrain_table.py"
