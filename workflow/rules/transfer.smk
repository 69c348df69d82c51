# Transfer (the paper's Tables 1-3): features of every target under every pretrained model,
# linear probes on them, partial fine-tuning, PGD on the transferred heads, and the tables.


include: "transfer_functions.smk"


# One (model, target) in one job: the representation z of the target's images to HDF5, a
# logistic regression on it (penalty chosen on a validation split) scored clean and under PGD
# through the whole network, then a new head (by default that probe: LP-FT) plus the last k
# residual stages fine-tuned for every k of transfer.finetune.stages. Each fine-tuning resumes
# from its resume-finetune{k}.pt (not an output), kept until the job ends.
rule transfer:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=dataset_cache("{target}"),
        code=model_code("transfer", TRANSFER_SKIP),
    output:
        features=FEATURES,
        linear=f"{TRANSFER_DIR}/linear.json",
        head=f"{TRANSFER_DIR}/linear_head.pt",
        finetune=finetune_outputs(),
    log:
        f"{LOGS}/transfer/{MODEL_ID}/{{target}}.log",
    benchmark:
        f"{BENCH}/transfer/{MODEL_ID}/{{target}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["transfer"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        n_train=config["transfer"]["n_train"],
        batch_size=config["transfer"]["batch_size"],
        probe=config["transfer"]["probe"],
        attack=grid.transfer_attack(config),
        stages=config["transfer"]["finetune"]["stages"],
        head_init=config["transfer"]["finetune"]["head_init"],
        train=get_finetune_params,
        monitor_size=config["transfer"]["finetune"]["monitor_size"],
        sample_seed=config["data"]["seed"],
        resume_dir=TRANSFER_DIR,
    script:
        "../scripts/transfer.py"


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
        attack=attack_specs.describe_attack(grid.transfer_attack(config)["spec"]),
    script:
        "../scripts/transfer_table.py"
