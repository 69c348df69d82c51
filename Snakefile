# Entry point from the repository root; the workflow itself lives in workflow/Snakefile.
include: "workflow/Snakefile"


# Rules of included files cannot be the default target, so name workflow/Snakefile's `all` here.
rule default:
    default_target: True
    input:
        rules.all.input,
    localrule: True
