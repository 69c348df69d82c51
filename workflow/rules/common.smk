# Config loading and validation, the model grid, and the path helpers every stage uses.
import dataclasses
import os
import sys
from pathlib import Path

from snakemake.utils import validate

SRC_DIR = Path(str(workflow.current_basedir)).parents[1] / "src"
SCRIPTS_DIR = Path(str(workflow.current_basedir)).parent / "scripts"
# This process and every job import the library from this checkout, also inside --use-conda
# environments and on cluster nodes (which re-read this file), pip-installed there or not.
sys.path.insert(0, str(SRC_DIR))
# (Setting, not requiring, a variable: hence update() rather than the envvars directive.)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")])
    )
)

from advinfo.catalog import dataset_kind
from advinfo.codedeps import library_files, other_builders, other_methods
from advinfo.config import (
    ModelSpec,
    attack_radii,
    check_config,
    comparison_radii,
    evaluation_radii,
    expand_user_paths,
    gap_sources,
    imported_entry,
    imported_models,
    model_grid,
    model_record,
    mutual_info_radii,
    ood_dataset,
    reference_model,
    source_images,
    transfer_modes,
)
from advinfo.preflight import check_feasibility

# A clear one-line-per-problem error before any job runs: the schema, then (defaults filled,
# ~ expanded) what the datasets' sizes and the architectures allow.
check_config(config, workflow.source_path("../schemas/config.schema.yaml"))
validate(config, "../schemas/config.schema.yaml")
expand_user_paths(config)
check_feasibility(config)

IMPORTED = imported_models(config)
MODELS = model_grid(config) + IMPORTED
REFERENCE = reference_model(config)
RESULTS = "results"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
MODEL_DIR = "results/pretrain/{source}/{arch}/{method}-eps{eps}-seed{seed}"
MODEL_ID = "{source}/{arch}/{method}-eps{eps}-seed{seed}"
FEATURES = f"{RESULTS}/features/{MODEL_ID}/{{target}}.h5"
TRANSFER_DIR = f"{RESULTS}/transfer/{MODEL_ID}/{{target}}"
INFORMATION_FIGURES = [
    f"{RESULTS}/figures/{name}.{ext}"
    for name in ("fig4_weight_logvar", "fig5_weight_norm", "fig6_tsne", "fisher_input")
    for ext in ("pdf", "png")
]
INVERSION_FIGURES = [
    f"{RESULTS}/figures/{name}.{ext}"
    for name in ("fig1_inversion", "fig2_inversion_loss", "feature_visualisation")
    for ext in ("pdf", "png")
]
DISTANCE_DIR = f"{RESULTS}/distance"
TASK2VEC_EMBEDDING = f"{DISTANCE_DIR}/task2vec/embeddings/{{dataset}}.h5"
TRANSFER_TABLES = [
    f"{RESULTS}/tables/transfer_{name}.{ext}"
    for name in ("linear", "finetune", "robustness")
    for ext in ("md", "html")
]


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


def report_labels(paper, **extra):
    """Labels of a report item: the paper's figure or table it reproduces and the models it shows."""
    pre = config["pretrain"]
    eps = ", ".join(f"{float(e):g}" for e in pre["epsilons"])
    methods = ", ".join(
        ["standard"] * (0.0 in map(float, pre["epsilons"])) + pre["methods"]
    )
    return {
        "paper": paper,
        "sources": ", ".join(config["sources"]),
        "archs": ", ".join(config["archs"]),
        "methods": methods,
        "eps": eps,
        **extra,
    }


def library(script, skip=()):
    """Library sources that compute the results of the job script ``script``, as inputs: editing
    one reruns the rule's jobs (Snakemake tracks a script's own code, not its imports). The
    support modules and those in ``skip`` are left out (advinfo.codedeps says which and why).
    """
    path = SCRIPTS_DIR / f"{script}.py"
    return [os.path.relpath(f) for f in library_files(path, SRC_DIR / "advinfo", skip)]


def pretrain_code(wildcards):
    """The library a pretraining job runs: the shared training code and its own method's."""
    return library("pretrain", other_methods(wildcards.method))


def dataset_code(wildcards):
    """The library that builds one dataset: builders.py and the builder of its kind (not data.py,
    whose transforms and sampler serve the jobs that read the cache)."""
    kind = dataset_kind(wildcards.dataset, config["data"]["folders"])
    return library("prepare_dataset", (*other_builders(kind), "data"))


def dataset_cache(name):
    """The prepared-dataset file of ``name``."""
    return f"{config['data']['root']}/{name}.npz"


def source_data(wildcards):
    """The dataset of a model's source (for an imported model: the dataset standing in for it)."""
    return dataset_cache(source_images(config, wildcards.source))


def get_imported(wildcards):
    """The ``imported`` entry of the model of these wildcards."""
    return imported_entry(config, ModelSpec(**model_record(wildcards)))


def imported_source_pattern():
    """A regex matching only imported sources (one that matches nothing when there are none)."""
    names = sorted({spec.source for spec in IMPORTED})
    return "|".join(names) if names else "(?!)"


def model_files(kind, specs=MODELS):
    """``kind`` (a file name in each model's directory) for every model of ``specs`` (by
    default the grid and the imported models)."""
    return [f"{RESULTS}/pretrain/{spec.path}/{kind}" for spec in specs]


def comparison_inputs(wildcards):
    """Per-model records of the method comparison, and the transfer table when there are targets."""
    inputs = {
        "robustness": model_files("robustness.json", model_grid(config)),
        "mutual_info": model_files("mutual_info.json", model_grid(config)),
    }
    if config["targets"]:
        inputs["transfer"] = f"{RESULTS}/tables/transfer.csv"
    return inputs


def transfer_files():
    """Result JSON of every (model, target, mode): the linear probe and each fine-tuning depth."""
    modes = transfer_modes(config["transfer"]["finetune"]["stages"])
    return [
        f"{RESULTS}/transfer/{spec.path}/{target}/{mode}.json"
        for spec in MODELS
        for target in config["targets"]
        if target != spec.source
        for mode in modes
    ]


def reference_file(kind):
    """``kind`` (a file name in a model's directory) of the distance reference network."""
    return f"{RESULTS}/pretrain/{REFERENCE.path}/{kind}"


def reference_features(dataset):
    """Features of ``dataset``'s images under the distance reference network."""
    return f"{RESULTS}/features/{REFERENCE.path}/{dataset}.h5"


def distance_inputs(wildcards):
    """What one distance compares: reference features (EMD) or Task2Vec embeddings."""
    if wildcards.measure == "emd":
        return {
            "a": reference_features(wildcards.source),
            "b": reference_features(wildcards.target),
        }
    return {
        "a": TASK2VEC_EMBEDDING.format(dataset=wildcards.source),
        "b": TASK2VEC_EMBEDDING.format(dataset=wildcards.target),
    }


def distance_files():
    """Result JSON of every (measure, source, target) distance."""
    return [
        f"{DISTANCE_DIR}/{measure}/{source}/{target}.json"
        for measure in config["distance"]["measures"]
        for source in config["sources"]
        for target in config["targets"]
        if target != source
    ]


def inversion_inputs(wildcards):
    """The source dataset, and the out-of-distribution one when there is one."""
    ood = ood_dataset(config, wildcards.source)
    inputs = {"source": source_data(wildcards)}
    return inputs | ({"ood": dataset_cache(ood)} if ood else {})


def history_epochs():
    """The epochs of each model's metrics.csv, in the order of model_files(): pretrain.epochs for
    the grid, None (one row) for an imported model."""
    return [
        None if spec in IMPORTED else config["pretrain"]["epochs"] for spec in MODELS
    ]


def model_keys():
    """The identifying keys of every model of the grid, in the order of model_files()."""
    return [dataclasses.asdict(spec) for spec in MODELS]


def get_final_output():
    """Targets of the `all` rule, the last product of every stage that has landed."""
    outputs = [
        f"{RESULTS}/tables/pretrain_robustness.csv",
        f"{RESULTS}/tables/pretrain_robustness.md",
    ]
    outputs += [f"{RESULTS}/tables/information.csv", *INFORMATION_FIGURES]
    outputs += [f"{RESULTS}/tables/inversion.{ext}" for ext in ("csv", "md", "html")]
    outputs += INVERSION_FIGURES
    if config["targets"]:
        outputs += [f"{RESULTS}/tables/transfer.csv", *TRANSFER_TABLES]
        outputs += [f"{RESULTS}/tables/distance.{ext}" for ext in ("csv", "md", "html")]
    outputs += [
        f"{RESULTS}/figures/gap_vs_distance_{source}.{ext}"
        for source in gap_sources(config)
        for ext in ("pdf", "png")
    ]
    if comparison_radii(config):
        outputs += [
            f"{RESULTS}/tables/method_comparison.{ext}" for ext in ("csv", "md", "html")
        ]
        outputs += [
            f"{RESULTS}/figures/method_comparison.{ext}" for ext in ("pdf", "png")
        ]
    return outputs


def get_dataset_options(wildcards):
    """The options that decide one dataset's content, and only those (a change reruns it and
    every model trained on it): sizes of generated datasets, where real ones are read from.
    How it is built (data.download, data.threads) the job reads from the config."""
    data, name = config["data"], wildcards.dataset
    options = {"seed": data["seed"]}
    kind = dataset_kind(name, data["folders"])
    if kind == "generated":
        options.update(n_train=data["n_train"], n_test=data["n_test"])
    if kind == "torchvision":
        options.update(root=data["raw_root"] or data["root"])
    if kind == "folder":
        options.update(folder=data["folders"][name])
    if kind in ("torchvision", "folder"):
        options.update(size=data["resize"] or data["image_size"])
    return options


def get_train_params(wildcards):
    """TrainConfig values of one model: the pretrain section plus its method, eps and seed."""
    # Grid keys, and how training runs (gpus, channels_last, compile: the job reads them from
    # the config, so changing them retrains nothing).
    grid_keys = (
        "epsilons",
        "methods",
        "all_methods_at",
        "seeds",
        "threads",
        "monitor_size",
        "gpus",
        "channels_last",
        "compile",
    )
    # A method's own keys (trades_beta, arat_alpha, ...) reach its models only, so changing
    # one retrains no other method's models.
    own = tuple(f"{m}_" for m in ("trades", "arat") if m != wildcards.method)
    keep = {
        k: v
        for k, v in config["pretrain"].items()
        if k not in grid_keys and not k.startswith(own)
    }
    keep["milestones"] = tuple(keep["milestones"])
    return {
        **keep,
        "method": wildcards.method,
        "eps": float(wildcards.eps),
        "seed": int(wildcards.seed),
    }


def get_finetune_params(wildcards):
    """TrainConfig values of one fine-tuning run: standard training on the target images."""
    skip = ("stages", "monitor_size", "head_init")
    tune = {k: v for k, v in config["transfer"]["finetune"].items() if k not in skip}
    return {**tune, "method": "standard", "eps": 0.0, "seed": int(wildcards.seed)}


def get_head_probe(wildcards):
    """The linear head's options of an encoder trained without labels (wcmi): transfer.probe's."""
    return config["transfer"]["probe"] if wildcards.method == "wcmi" else None


def get_finetune_head(wildcards):
    """The linear probe a fine-tuning run starts from, when transfer.finetune.head_init is probe."""
    if config["transfer"]["finetune"]["head_init"] != "probe":
        return []
    return f"{TRANSFER_DIR}/linear_head.pt".format(**wildcards)


def attack_params():
    """The PGD attack on transferred heads (Lemma 0.8)."""
    rob = config["transfer"]["robustness"]
    return {
        "epsilons": attack_radii(config),
        "steps": rob["steps"],
        "n_test": rob["n_test"],
        "norm": config["pretrain"]["norm"],
    }
