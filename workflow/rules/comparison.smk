# The training methods side by side at equal eps: clean and robust accuracy, transfer gap
# and representation vulnerability, as a table and a figure.


include: "comparison_functions.smk"


# Models of the grid trained at a compared eps, with the standard ones, in one table.
rule method_comparison:
    input:
        unpack(get_comparison_inputs),
        code=library("method_comparison"),
    output:
        csv=f"{RESULTS}/tables/method_comparison.csv",
        md=f"{RESULTS}/tables/method_comparison.md",
        html=report(
            f"{RESULTS}/tables/method_comparison.html",
            caption="../report/method_comparison.rst",
            category="6. Methods",
            labels=report_labels("methods compared (table)"),
        ),
    log:
        f"{LOGS}/method_comparison.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    params:
        radii=grid.comparison_radii(config),
        mode=config["distance"]["gap_mode"],
        attack=attack_specs.describe_attack(grid.evaluation_attack_fields(config)),
    script:
        "../scripts/method_comparison.py"


rule plot_method_comparison:
    input:
        table=f"{RESULTS}/tables/method_comparison.csv",
        code=library("plot_method_comparison"),
    output:
        pdf=f"{RESULTS}/figures/method_comparison.pdf",
        png=report(
            f"{RESULTS}/figures/method_comparison.png",
            caption="../report/method_comparison_figure.rst",
            category="6. Methods",
            labels=report_labels("methods compared (figure)"),
        ),
    log:
        f"{LOGS}/plot_method_comparison.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        gpu=0,
    script:
        "../scripts/plot_method_comparison.py"
