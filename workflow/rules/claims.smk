# The paper's claims tested on this run's tables, and the report's landing page.


include: "claims_functions.smk"


# Every claim the config can test: PASS, FAIL or INCONCLUSIVE from the intervals; and the
# landing page (results/report/overview.rst, included by workflow/report/landing.rst).
rule claims:
    input:
        unpack(get_claims_inputs),
        code=library("claims"),
    output:
        csv=f"{RESULTS}/tables/claims.csv",
        md=f"{RESULTS}/tables/claims.md",
        html=report(
            f"{RESULTS}/tables/claims.html",
            caption="../report/claims.rst",
            category="0. Claims",
            labels=report_labels("the paper's claims"),
        ),
        overview=OVERVIEW,
    log:
        f"{LOGS}/claims.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    params:
        max_iters=config["inversion"]["max_iters"],
        run=grid.run_summary(config, workflow.configfiles),
        root=str(SRC_DIR.parent),
    script:
        "../scripts/claims.py"
