# Config loading and validation, the model grid, and the path helpers every stage uses.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

SRC_DIR = Path(str(workflow.current_basedir)).parents[1] / "src"
LIBRARY_DIR = os.path.relpath(SRC_DIR / "advinfo")
# This process and every job import the library from this checkout, also inside --use-conda
# environments and on cluster nodes (which re-read this file), pip-installed there or not.
sys.path.insert(0, str(SRC_DIR))
# (Setting, not requiring, a variable: hence update() rather than the envvars directive.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")])
    )
)

from advinfo.config import GENERATED_DATASETS, check_config, model_grid

# A clear one-line-per-problem error before any job runs, then snakemake fills defaults.
check_config(config, workflow.source_path("../schemas/config.schema.yaml"))
validate(config, "../schemas/config.schema.yaml")

MODELS = model_grid(config)
RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
MODEL_DIR = "results/pretrain/{source}/{arch}/{method}-eps{eps}-seed{seed}"


wildcard_constraints:
    source=r"[a-z0-9_]+",
    arch=r"[a-z0-9_]+",
    method=r"[a-z]+",
    eps=r"[0-9]+(\.[0-9]+)?",
    seed=r"[0-9]+",
    dataset=r"[a-z0-9_]+",


def library(*modules):
    """Library sources a rule's script runs, as inputs: editing one reruns the rule's jobs
    (Snakemake tracks a script's own code, not the modules it imports)."""
    return [f"{LIBRARY_DIR}/{m}.py" for m in modules]


def dataset_cache(name):
    """The prepared-dataset file of ``name``."""
    return f"{config['data']['root']}/{name}.npz"


def model_files(kind):
    """``kind`` (a file name in each model's directory) for every model of the grid."""
    return [f"{RESULTS}/pretrain/{spec.path}/{kind}" for spec in MODELS]


def get_final_output():
    """Targets of the `all` rule, the last product of every stage that has landed."""
    return [
        f"{RESULTS}/tables/pretrain_robustness.csv",
        f"{RESULTS}/tables/pretrain_robustness.md",
    ]


def get_dataset_options(wildcards):
    """Build options of one dataset; sizes matter only for generated ones."""
    data = config["data"]
    options = {"seed": data["seed"]}
    if wildcards.dataset in GENERATED_DATASETS:
        options.update(n_train=data["n_train"], n_test=data["n_test"])
    return options


def get_train_params(wildcards):
    """TrainConfig values of one model: the pretrain section plus its method, eps and seed."""
    grid_keys = ("epsilons", "methods", "seeds", "threads", "monitor_size")
    keep = {k: v for k, v in config["pretrain"].items() if k not in grid_keys}
    keep["milestones"] = tuple(keep["milestones"])
    return {
        **keep,
        "method": wildcards.method,
        "eps": float(wildcards.eps),
        "seed": int(wildcards.seed),
    }
