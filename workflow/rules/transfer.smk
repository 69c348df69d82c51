# Transfer (the paper's Tables 1-3): features of every target under every pretrained model,
# linear probes on them, partial fine-tuning, PGD on the transferred heads, and the tables.


include: "transfer_functions.smk"


# Representation z of the target's train and test images, streamed to HDF5.
rule extract_features:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=dataset_cache("{target}"),
        code=library("extract_features"),
    output:
        features=FEATURES,
    log:
        f"{LOGS}/extract_features/{MODEL_ID}/{{target}}.log",
    benchmark:
        f"{BENCH}/extract_features/{MODEL_ID}/{{target}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["transfer"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        batch_size=config["transfer"]["batch_size"],
    script:
        "../scripts/extract_features.py"


# Logistic regression on frozen features (penalty chosen on a validation split), then PGD
# through the whole network with the probe as its head.
rule linear_probe:
    input:
        features=FEATURES,
        model=f"{MODEL_DIR}/model.pt",
        dataset=dataset_cache("{target}"),
        code=library("linear_probe"),
    output:
        json=f"{TRANSFER_DIR}/linear.json",
        head=f"{TRANSFER_DIR}/linear_head.pt",
    log:
        f"{LOGS}/linear_probe/{MODEL_ID}/{{target}}.log",
    benchmark:
        f"{BENCH}/linear_probe/{MODEL_ID}/{{target}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["transfer"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        probe=config["transfer"]["probe"],
        attack=grid.transfer_attack(config),
        sample_seed=config["data"]["seed"],
    script:
        "../scripts/linear_probe.py"


# A new head (by default the linear probe: LP-FT) plus the last {stages} residual stages,
# trained on the target images; resumes from resume-finetune{stages}.pt (not an output).
rule finetune:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=dataset_cache("{target}"),
        head=get_finetune_head,
        # the probe is not listed: it reaches a fine-tuning through its head file
        code=library("finetune", (*other_methods(grid.STANDARD), "probe")),
    output:
        json=f"{TRANSFER_DIR}/finetune{{stages}}.json",
    log:
        f"{LOGS}/finetune/{MODEL_ID}/{{target}}-stages{{stages}}.log",
    benchmark:
        f"{BENCH}/finetune/{MODEL_ID}/{{target}}-stages{{stages}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["transfer"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        train=get_finetune_params,
        monitor_size=config["transfer"]["finetune"]["monitor_size"],
        sample_seed=config["data"]["seed"],
        resume=f"{TRANSFER_DIR}/resume-finetune{{stages}}.pt",
    script:
        "../scripts/finetune.py"


# Every transfer result in one tidy CSV, and the paper-style pivots in Markdown and HTML.
rule transfer_table:
    input:
        results=transfer_files(),
        code=library("transfer_table"),
    output:
        csv=f"{RESULTS}/tables/transfer.csv",
        linear_md=f"{RESULTS}/tables/transfer_linear.md",
        linear_html=report(
            f"{RESULTS}/tables/transfer_linear.html",
            caption="../report/transfer_linear.rst",
            category="4. Transfer",
            labels=report_labels("Tables 1-2"),
        ),
        finetune_md=f"{RESULTS}/tables/transfer_finetune.md",
        finetune_html=report(
            f"{RESULTS}/tables/transfer_finetune.html",
            caption="../report/transfer_finetune.rst",
            category="4. Transfer",
            labels=report_labels("Table 3"),
        ),
        robustness_md=f"{RESULTS}/tables/transfer_robustness.md",
        robustness_html=report(
            f"{RESULTS}/tables/transfer_robustness.html",
            caption="../report/transfer_robustness.rst",
            category="4. Transfer",
            labels=report_labels("Lemma 0.8"),
        ),
    log:
        f"{LOGS}/transfer_table.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    params:
        attack=grid.describe_attack(grid.transfer_attack(config)["spec"]),
    script:
        "../scripts/transfer_table.py"
