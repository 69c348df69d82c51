# The config (checked and completed before any job), the model grid, and the path patterns
# every stage uses. Rule-specific helpers live beside their rule.
import dataclasses
import os
import sys
from pathlib import Path

SRC_DIR = Path(str(workflow.current_basedir)).parents[1] / "src"
SCRIPTS_DIR = Path(str(workflow.current_basedir)).parent / "scripts"
# This process and every job import the library from this checkout, also inside --use-conda
# environments and on cluster nodes (which re-read this file), pip-installed there or not.
sys.path.insert(0, str(SRC_DIR))
# (Setting, not requiring, a variable: hence update() rather than the envvars directive.)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")])))

from advinfo.plan import attack_specs, grid, names
from advinfo.plan.codedeps import library_files, other_model_kinds
from advinfo.plan.preflight import prepare_config

# One line per problem before any job runs: the schema, then (defaults filled, ~ expanded) the
# rules across keys and what the datasets' sizes and the architectures allow.
prepare_config(config, workflow.source_path("../schemas/config.schema.yaml"))
# How many jobs may share a GPU reaches every job's GPU claim (advinfo.device) this way.
os.environ.update(ADVINFO_GPU_SLOTS=str(config["gpu_slots"]))

MODELS = grid.all_models(config)
ZOO = set(grid.zoo_imports(config))
RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
MODEL_ID = "{source}/{arch}/{method}-eps{eps}-seed{seed}"
MODEL_DIR = f"{RESULTS}/pretrain/{MODEL_ID}"
FEATURES = f"{RESULTS}/features/{MODEL_ID}/{{target}}.h5"
TRANSFER_DIR = f"{RESULTS}/transfer/{MODEL_ID}/{{target}}"
DISTANCE_DIR = f"{RESULTS}/distance"
TASK2VEC_EMBEDDING = f"{DISTANCE_DIR}/task2vec/embeddings/{{dataset}}.h5"
OVERVIEW = f"{RESULTS}/report/overview.rst"


wildcard_constraints:
    source=r"[a-z0-9_]+",
    arch=r"[a-z0-9_]+",
    method=r"[a-z]+",
    eps=r"[0-9]+(\.[0-9]+)?",
    seed=r"[0-9]+",
    dataset=r"[a-z0-9_]+",
    target=r"[a-z0-9_]+",
    stages=r"[0-9]",
    measure=r"emd|task2vec",


def library(script, skip=()):
    """Library sources that compute the results of the job script ``script``, as inputs: editing
    one reruns the rule's jobs (Snakemake tracks a script's own code, not its imports). The
    support modules and those in ``skip`` are left out (advinfo.plan.codedeps says which and why).
    """
    path = SCRIPTS_DIR / f"{script}.py"
    return [os.path.relpath(f) for f in library_files(path, SRC_DIR / "advinfo", skip)]


def model_code(script, skip=()):
    """``library(script, skip)`` of a job of one model (its wildcards): a RobustBench zoo model's
    network code only for a zoo model."""

    def code(wildcards):
        return library(script, (*skip, *other_model_kinds(names.model_spec(wildcards) in ZOO)))

    return code


def dataset_cache(name):
    """The prepared-dataset file of ``name`` (a name or a wildcard pattern)."""
    return f"{config['data']['root']}/{name}.npz"


def get_source_data(wildcards):
    """The dataset of a model's source (for an imported model: the dataset standing in for it)."""
    return dataset_cache(grid.source_images(config, wildcards.source))


def model_files(kind, specs=MODELS):
    """``kind`` (a file name in each model's directory) for every model of ``specs``."""
    return [f"{RESULTS}/pretrain/{spec.path}/{kind}" for spec in specs]


def report_labels(paper, **extra):
    """Labels of a report item: the paper's figure or table it reproduces and the models it shows."""
    pre = config["pretrain"]
    standard = [grid.STANDARD] * (0.0 in map(float, pre["epsilons"]))
    return {
        "paper": paper,
        "sources": ", ".join(config["sources"]),
        "archs": ", ".join(config["archs"]),
        "methods": ", ".join(standard + pre["methods"]),
        "eps": ", ".join(f"{float(e):g}" for e in pre["epsilons"]),
        **extra,
    }


def get_final_output():
    """Targets of the `all` rule: the last product of every stage."""
    figures = ["fig4_weight_logvar", "fig5_weight_norm", "fig6_tsne", "fisher_input"]
    figures += ["fig1_inversion", "fig2_inversion_loss", "feature_visualisation"]
    tables = ["pretrain_robustness.csv", "pretrain_robustness.md", "information.csv"]
    tables += [f"{name}.{ext}" for name in ("claims", "gradient_masking") for ext in ("csv", "md", "html")]
    tables += [f"inversion.{ext}" for ext in ("csv", "md", "html")]
    if config["targets"]:
        tables += ["transfer.csv"]
        tables += [f"transfer_{n}.{e}" for n in ("linear", "finetune", "robustness") for e in ("md", "html")]
        tables += [f"distance.{ext}" for ext in ("csv", "md", "html")]
    figures += [f"gap_vs_distance_{source}" for source in grid.gap_sources(config)]
    if grid.comparison_radii(config):
        tables += [f"method_comparison.{ext}" for ext in ("csv", "md", "html")]
        figures += ["method_comparison"]
    return (
        [OVERVIEW]
        + [f"{RESULTS}/tables/{name}" for name in tables]
        + [f"{RESULTS}/figures/{name}.{ext}" for name in figures for ext in ("pdf", "png")]
    )
