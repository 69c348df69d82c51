# Inversion of representations (the paper's Figs. 1 and 2): plain, with the weight noise
# injected once, effective images, feature visualisation, and their quality.


include: "inversion_functions.smk"


# Fixed source and out-of-distribution test images inverted three ways, and feature visualisation.
rule invert:
    input:
        unpack(get_inversion_inputs),
        model=f"{MODEL_DIR}/model.pt",
        posterior=f"{MODEL_DIR}/posterior.h5",
        code=model_code("invert"),
    output:
        h5=f"{MODEL_DIR}/inversion.h5",
        json=f"{MODEL_DIR}/inversion.json",
    log:
        f"{LOGS}/invert/{MODEL_ID}.log",
    benchmark:
        f"{BENCH}/invert/{MODEL_ID}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["inversion"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
    params:
        options=config["inversion"],
        ood=get_ood_dataset,
        sample_seed=config["data"]["seed"],
    script:
        "../scripts/invert.py"


# PSNR, SSIM, losses and iterations to the loss threshold of every inversion: tidy CSV and pivots.
rule inversion_table:
    input:
        results=model_files("inversion.json"),
        code=library("inversion_table"),
    output:
        csv=f"{RESULTS}/tables/inversion.csv",
        md=f"{RESULTS}/tables/inversion.md",
        html=report(
            f"{RESULTS}/tables/inversion.html",
            caption="../report/inversion_table.rst",
            category="3. Inversion",
            labels=report_labels("Figs. 1-2 (quality)"),
        ),
    log:
        f"{LOGS}/inversion_table.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/inversion_table.py"


# Fig. 1 (originals, inversion, noise once, effective images), Fig. 2 (loss per iteration), the
# feature visualisation and feature manipulation, from every model's inversion file.
rule plot_inversion:
    input:
        inversions=model_files("inversion.h5"),
        code=library("plot_inversion"),
    output:
        fig1_pdf=f"{RESULTS}/figures/fig1_inversion.pdf",
        fig1_png=report(
            f"{RESULTS}/figures/fig1_inversion.png",
            caption="../report/fig1_inversion.rst",
            category="3. Inversion",
            labels=report_labels("Fig. 1"),
        ),
        fig2_pdf=f"{RESULTS}/figures/fig2_inversion_loss.pdf",
        fig2_png=report(
            f"{RESULTS}/figures/fig2_inversion_loss.png",
            caption="../report/fig2_inversion_loss.rst",
            category="3. Inversion",
            labels=report_labels("Fig. 2"),
        ),
        vis_pdf=f"{RESULTS}/figures/feature_visualisation.pdf",
        vis_png=report(
            f"{RESULTS}/figures/feature_visualisation.png",
            caption="../report/feature_visualisation.rst",
            category="3. Inversion",
            labels=report_labels("beside Fig. 1 (Engstrom et al.)"),
        ),
        manip_pdf=f"{RESULTS}/figures/feature_manipulation.pdf",
        manip_png=report(
            f"{RESULTS}/figures/feature_manipulation.png",
            caption="../report/feature_manipulation.rst",
            category="3. Inversion",
            labels=report_labels("beside Fig. 1 (feature manipulation)"),
        ),
    log:
        f"{LOGS}/plot_inversion.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/plot_inversion.py"
