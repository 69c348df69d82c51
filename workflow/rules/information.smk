# Information measures (the paper's Prop. 0.3, Def. 0.5 and Figs. 4-6): Fisher of the
# representation about the input, the weight posterior, t-SNE, their table and figures.


# tr(J^T J), lambda_1 and the Prop. 0.3 check on a fixed sample of source test images.
rule fisher_input:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=get_source_data,
        code=model_code("fisher_input"),
    output:
        json=f"{MODEL_DIR}/fisher.json",
    log:
        f"{LOGS}/fisher_input/{MODEL_ID}.log",
    benchmark:
        f"{BENCH}/fisher_input/{MODEL_ID}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["information"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        options=config["information"]["fisher"],
        sample_seed=config["data"]["seed"],
    script:
        "../scripts/fisher_input.py"


# Log-variances of a diagonal Gaussian posterior around the trained weights (HDF5), and summaries.
rule weight_posterior:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=get_source_data,
        code=model_code("weight_posterior"),
    output:
        h5=f"{MODEL_DIR}/posterior.h5",
        json=f"{MODEL_DIR}/posterior.json",
    log:
        f"{LOGS}/weight_posterior/{MODEL_ID}.log",
    benchmark:
        f"{BENCH}/weight_posterior/{MODEL_ID}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["information"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        posterior=config["information"]["posterior"],
    script:
        "../scripts/weight_posterior.py"


# 2-D t-SNE of the features of a fixed batch of source test images.
rule tsne:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=get_source_data,
        code=model_code("tsne"),
    output:
        csv=f"{MODEL_DIR}/tsne.csv",
    log:
        f"{LOGS}/tsne/{MODEL_ID}.log",
    conda:
        "../../envs/torch.yaml"
    threads: config["information"]["threads"]
    resources:
        gpu=1,
    params:
        n_images=config["information"]["tsne"]["n_images"],
        perplexity=config["information"]["tsne"]["perplexity"],
        sample_seed=config["data"]["seed"],
    script:
        "../scripts/tsne.py"


# One row per model (tr F, lambda_1, mean log-variance, final ||w||), the Prop. 0.3 check, and
# one JSON per model with all its information measures.
rule information_table:
    input:
        fisher=model_files("fisher.json"),
        posterior=model_files("posterior.json"),
        metrics=model_files("metrics.csv"),
        code=library("information_table"),
    output:
        table=f"{RESULTS}/tables/information.csv",
        prop03=f"{RESULTS}/tables/information_prop03.csv",
        models=model_files("information.json"),
    log:
        f"{LOGS}/information_table.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    params:
        epochs=grid.history_epochs(config),
    script:
        "../scripts/information_table.py"


# Fig. 4: mean weight log-variance against the training eps.
rule plot_weight_logvar:
    input:
        table=f"{RESULTS}/tables/information.csv",
        code=library("plot_weight_logvar"),
    output:
        pdf=f"{RESULTS}/figures/fig4_weight_logvar.pdf",
        png=report(
            f"{RESULTS}/figures/fig4_weight_logvar.png",
            caption="../report/fig4_weight_logvar.rst",
            category="2. Information",
            labels=report_labels("Fig. 4"),
        ),
    log:
        f"{LOGS}/plot_weight_logvar.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/plot_weight_logvar.py"


# Fig. 5: ||w|| per pretraining epoch for every eps.
rule plot_weight_norm:
    input:
        metrics=model_files("metrics.csv"),
        code=library("plot_weight_norm"),
    output:
        pdf=f"{RESULTS}/figures/fig5_weight_norm.pdf",
        png=report(
            f"{RESULTS}/figures/fig5_weight_norm.png",
            caption="../report/fig5_weight_norm.rst",
            category="2. Information",
            labels=report_labels("Fig. 5"),
        ),
    log:
        f"{LOGS}/plot_weight_norm.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    params:
        models=[dataclasses.asdict(spec) for spec in MODELS],
        epochs=grid.history_epochs(config),
    script:
        "../scripts/plot_weight_norm.py"


# Fig. 6: t-SNE of the representation per model.
rule plot_tsne:
    input:
        points=model_files("tsne.csv"),
        code=library("plot_tsne"),
    output:
        pdf=f"{RESULTS}/figures/fig6_tsne.pdf",
        png=report(
            f"{RESULTS}/figures/fig6_tsne.png",
            caption="../report/fig6_tsne.rst",
            category="2. Information",
            labels=report_labels("Fig. 6"),
        ),
    log:
        f"{LOGS}/plot_tsne.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/plot_tsne.py"


# tr F and lambda_1 against eps, and the Prop. 0.3 check.
rule plot_fisher:
    input:
        table=f"{RESULTS}/tables/information.csv",
        prop03=f"{RESULTS}/tables/information_prop03.csv",
        code=library("plot_fisher"),
    output:
        pdf=f"{RESULTS}/figures/fisher_input.pdf",
        png=report(
            f"{RESULTS}/figures/fisher_input.png",
            caption="../report/fisher_input.rst",
            category="2. Information",
            labels=report_labels("Prop. 0.3"),
        ),
    log:
        f"{LOGS}/plot_fisher.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/plot_fisher.py"


# Representation vulnerability (Zhu et al. 2020): I(X; Z) of source training images, clean
# and under the perturbation within eps that minimises it, at every radius of
# information.mutual_info.epsilons.
rule mi_vulnerability:
    input:
        model=f"{MODEL_DIR}/model.pt",
        dataset=get_source_data,
        code=model_code("mi_vulnerability"),
    output:
        json=f"{MODEL_DIR}/mutual_info.json",
    log:
        f"{LOGS}/mi_vulnerability/{MODEL_ID}.log",
    benchmark:
        f"{BENCH}/mi_vulnerability/{MODEL_ID}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["information"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        options=config["information"]["mutual_info"],
        radii=grid.mutual_info_radii(config),
        sample_seed=config["data"]["seed"],
        norm=config["pretrain"]["norm"],
    script:
        "../scripts/mi_vulnerability.py"
