"""The model grid a config defines, how its models and results are named, the radii each stage
uses, and the parameters of each kind of job (what Snakemake passes as ``params``, so that a
changed value reruns exactly the jobs it reaches). Torch-free: the workflow uses it while it
parses, scripts, tables and plots when they name results."""

from __future__ import annotations

from typing import Any

from advinfo.plan.attack_specs import describe_attack
from advinfo.plan.catalog import dataset_facts, dataset_kind
from advinfo.plan.hyperparameters import train_keys
from advinfo.plan.methods import STANDARD, label_free
from advinfo.plan.names import ModelSpec
from advinfo.plan.schema import section_defaults
from advinfo.plan.zoo import LEADERBOARD_EPS, imported_arch, imported_image_size, is_zoo

# Residual stages of each architecture (the most partial fine-tuning can unfreeze).
ARCH_STAGES = {"resnet_mini": 3, "resnet18": 4, "resnet50": 4, "resnet18_imagenet": 4, "resnet50_imagenet": 4}
WIDE_ARCHS = ("resnet_mini", "resnet18")  # the architectures whose model.width is a choice (nets.models.DEFAULT_WIDTH)


def method_at(eps: float, method: str) -> str:
    """The method of a model trained by ``method`` at ``eps``: standard at ε = 0."""
    return STANDARD if float(eps) == 0 else method


def method_epsilons(pre: dict[str, Any], method: str) -> list[float]:
    """The non-zero training radii of ``method``: every one for the first of ``pretrain.methods``,
    those of ``pretrain.all_methods_at`` (all when null) for the others."""
    radii = [float(e) for e in pre["epsilons"] if float(e) > 0]
    if method == pre["methods"][0] or pre["all_methods_at"] is None:
        return radii
    return [e for e in radii if e in set(map(float, pre["all_methods_at"]))]


def transfer_modes(stages: list[int]) -> list[str]:
    """The transfer results of every (model, target): the linear probe and each fine-tuning depth."""
    return ["linear"] + [f"finetune{k}" for k in stages]


def model_grid(config: dict[str, Any]) -> list[ModelSpec]:
    """Every (source, arch, method, eps, seed): eps 0 is 'standard', each eps > 0 is trained by
    the first method of ``pretrain.methods``, and by the others where ``method_epsilons`` says."""
    pre = config["pretrain"]
    specs = []
    for source in config["sources"]:
        for arch in config["archs"]:
            for seed in pre["seeds"]:
                for eps in map(float, pre["epsilons"]):
                    if eps == 0:
                        specs.append(ModelSpec(source, arch, STANDARD, eps, int(seed)))
                        continue
                    methods = [m for m in pre["methods"] if eps in method_epsilons(pre, m)]
                    specs += [ModelSpec(source, arch, m, eps, int(seed)) for m in methods]
    return specs


def imported_models(config: dict[str, Any]) -> list[ModelSpec]:
    """The models of ``imported``: method standard at ε = 0, else the entry's method; seed 0."""
    return [
        ModelSpec(m["source"], imported_arch(m), method_at(float(m["eps"]), m["method"]), float(m["eps"]), 0)
        for m in config["imported"]
    ]


def zoo_imports(config: dict[str, Any]) -> list[ModelSpec]:
    """The imported models that come from the RobustBench zoo."""
    return [spec for spec, m in zip(imported_models(config), config["imported"], strict=True) if is_zoo(m)]


def leaderboards(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Per zoo model with ``leaderboard`` numbers: its model keys, the leaderboard's clean and
    AutoAttack accuracy, the radius and norm they were measured at, and the size of its images'
    full test split (None when unknown before building it): what the pretraining table compares."""
    out = []
    for spec, entry in zip(imported_models(config), config["imported"], strict=True):
        radius = LEADERBOARD_EPS.get((entry.get("dataset"), entry.get("threat")))
        if not is_zoo(entry) or "leaderboard" not in entry or radius is None:
            continue
        facts = dataset_facts(entry["images"], config["data"])
        out.append(
            {
                **{k: getattr(spec, k) for k in ("source", "arch", "method", "eps", "seed")},
                **entry["leaderboard"],
                "radius": radius,
                "norm": entry["threat"].lower(),
                "full_test": None if facts is None else facts.n_test,
            }
        )
    return out


def imported_entry(config: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """The ``imported`` entry that makes model ``spec``."""
    for entry, imported in zip(config["imported"], imported_models(config), strict=True):
        if imported == spec:
            return entry
    raise ValueError(f"no imported[] entry makes the model {spec.path}")


def import_params(config: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """What importing model ``spec`` reads: its ``imported`` entry with its arch and image size
    resolved, and without its leaderboard numbers (which only the tables read)."""
    entry = imported_entry(config, spec)
    fields = {k: v for k, v in entry.items() if k != "leaderboard"}
    return fields | {"arch": imported_arch(entry), "image_size": imported_image_size(entry)}


def all_sources(config: dict[str, Any]) -> list[str]:
    """The grid's sources, then the imported models' (each once, in the config's order)."""
    return list(dict.fromkeys([*config["sources"], *(m["source"] for m in config["imported"])]))


def source_images(config: dict[str, Any], source: str) -> str:
    """The dataset whose images stand for ``source`` in evaluation, Fisher, posterior, t-SNE and
    inversion: the source itself, or ``imported[].images`` for an imported model's source."""
    return next((m["images"] for m in config["imported"] if m["source"] == source), source)


def reference_model(config: dict[str, Any]) -> ModelSpec:
    """The one network whose features every dataset distance uses (``distance.reference``;
    a null source or arch means the first of ``sources`` / ``archs``). It need not be in the
    grid: the pretrain rule builds any model it names."""
    ref = config["distance"]["reference"]
    source, arch = ref["source"] or config["sources"][0], ref["arch"] or config["archs"][0]
    return ModelSpec(source, arch, ref["method"], float(ref["eps"]), int(ref["seed"]))


def gap_sources(config: dict[str, Any]) -> list[str]:
    """Sources whose robust-minus-standard transfer gap can be drawn: the grid needs a standard
    model (ε = 0), a robust one (ε > 0) and a target other than the source."""
    epsilons = [float(e) for e in config["pretrain"]["epsilons"]]
    has_both = 0.0 in epsilons and any(e > 0 for e in epsilons)
    return [s for s in config["sources"] if has_both and any(t != s for t in config["targets"])]


def ood_dataset(config: dict[str, Any], source: str) -> str | None:
    """The dataset whose images a model of ``source`` inverts as out-of-distribution examples:
    ``inversion.ood_dataset``, or by default the first target that is not the source; none when
    that is the source itself or no such target exists."""
    name = config["inversion"]["ood_dataset"]
    if name is None:
        name = next((t for t in config["targets"] if t != source), None)
    return None if name == source or config["inversion"]["n_ood"] == 0 else name


def comparison_radii(config: dict[str, Any]) -> list[float]:
    """The radii at which every method of pretrain.methods is trained, and so compared (none
    when there is no grid: sources empty, every model imported)."""
    pre = config["pretrain"]
    if not config["sources"]:
        return []
    return sorted(set.intersection(*(set(method_epsilons(pre, m)) for m in pre["methods"])))


def evaluation_radii(config: dict[str, Any]) -> list[float]:
    """Test radii of the source robustness: evaluate.epsilons and the compared radii."""
    return sorted({*map(float, config["evaluate"]["epsilons"]), *comparison_radii(config)})


def mutual_info_radii(config: dict[str, Any]) -> list[float]:
    """Radii of the worst-case mutual information: information.mutual_info.epsilons, or by
    default the non-zero training radii (those at which methods are compared)."""
    return _radii_or_training(config, config["information"]["mutual_info"]["epsilons"])


def _radii_or_training(config: dict[str, Any], radii: list[float] | None) -> list[float]:
    """``radii`` sorted, or when null the non-zero training radii."""
    if radii is None:
        radii = [e for e in config["pretrain"]["epsilons"] if float(e) > 0]
    return sorted(map(float, radii))


def attack_radii(config: dict[str, Any]) -> list[float]:
    """Radii at which transferred heads are attacked: transfer.robustness.epsilons, or by
    default the non-zero training radii (so every robust model is attacked at its own ε)."""
    return _radii_or_training(config, config["transfer"]["robustness"]["epsilons"])


def dataset_options(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The options that decide dataset ``name``'s content, and only those (a change rebuilds it
    and retrains every model on it): sizes of generated datasets, where real ones are read from.
    How it is built (data.download, data.threads) the job reads from the config."""
    data = config["data"]
    options: dict[str, Any] = {"seed": data["seed"]}
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


def train_params(config: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """The TrainConfig of one model: the ``pretrain`` keys its method reads, and its method, ε
    and seed (the grid's keys and how training runs are not among them, so changing them
    retrains nothing; another method's own keys neither)."""
    pre = config["pretrain"]
    return {
        **{key: pre[key] for key in train_keys(spec.method)},
        "method": spec.method,
        "eps": spec.eps,
        "seed": spec.seed,
    }


FINETUNE_GRID_KEYS = ("stages", "monitor_size", "head_init")  # transfer.finetune keys that are not hyperparameters


def finetune_params(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """The TrainConfig of one fine-tuning run: standard training with ``transfer.finetune``'s
    hyperparameters, and the schema's pretraining defaults for those it does not expose."""
    tune = {k: v for k, v in config["transfer"]["finetune"].items() if k not in FINETUNE_GRID_KEYS}
    fixed = section_defaults("pretrain")
    return {
        **{key: fixed[key] for key in train_keys(STANDARD)},
        **tune,
        "method": STANDARD,
        "eps": 0.0,
        "seed": seed,
    }


def head_probe(config: dict[str, Any], method: str) -> dict[str, Any] | None:
    """The options of the linear head fitted after training a method that learns without labels:
    transfer.probe's; None for the others (so changing them retrains only those)."""
    return None if method not in label_free() else config["transfer"]["probe"]


def attack_fields(config: dict[str, Any], steps: int) -> dict[str, Any]:
    """The fields of an ``evaluation.AttackSpec``: evaluate.attack with ``steps`` (pgd, apgd-ce)."""
    return {
        "name": config["evaluate"]["attack"],
        "norm": config["pretrain"]["norm"],
        "steps": steps,
        **config["evaluate"]["autoattack"],
    }


def evaluation_attack_fields(config: dict[str, Any]) -> dict[str, Any]:
    """The attack measuring the robust accuracy of pretrained models."""
    return attack_fields(config, config["evaluate"]["steps"])


def transfer_attack(config: dict[str, Any]) -> dict[str, Any]:
    """The attack on transferred heads (Lemma 0.8): its radii, images and spec."""
    rob = config["transfer"]["robustness"]
    return {"epsilons": attack_radii(config), "n_test": rob["n_test"], "spec": attack_fields(config, rob["steps"])}


def masking_options(config: dict[str, Any]) -> dict[str, Any]:
    """The fields of a ``masking.MaskingConfig``: evaluate.masking without its radius."""
    return {k: v for k, v in config["evaluate"]["masking"].items() if k != "eps"}


def masking_radius(config: dict[str, Any]) -> float:
    """The radius of the gradient-masking checks: evaluate.masking.eps, or the middle evaluation
    radius (the lower of the two middle ones)."""
    eps = config["evaluate"]["masking"]["eps"]
    radii = evaluation_radii(config)
    return float(eps) if eps is not None else radii[(len(radii) - 1) // 2]


def all_models(config: dict[str, Any]) -> list[ModelSpec]:
    """Every model the workflow makes: the grid, then the imported ones."""
    return model_grid(config) + imported_models(config)


def history_epochs(config: dict[str, Any]) -> list[int | None]:
    """The epochs of each model's metrics.csv, in the order of :func:`all_models`:
    pretrain.epochs for the grid, None (one row) for an imported model."""
    imported = set(imported_models(config))
    return [None if spec in imported else config["pretrain"]["epochs"] for spec in all_models(config)]


def run_summary(config: dict[str, Any], configfiles: list[str]) -> dict[str, str]:
    """What a run is, in words, for the report's landing page: its config files, grid, data and
    evaluation."""
    pre, data, ev = config["pretrain"], config["data"], config["evaluate"]
    imported = [f"{m.source}/{m.arch} ε={m.eps:g}" for m in imported_models(config)]
    return {
        "config": ", ".join(map(str, configfiles)) or "the schema's defaults",
        "grid": (
            f"sources {', '.join(config['sources'])}; archs {', '.join(config['archs'])}; methods "
            f"{', '.join(pre['methods'])} at training ε {', '.join(f'{float(e):g}' for e in pre['epsilons'])}; "
            f"seeds {', '.join(map(str, pre['seeds']))}; {len(model_grid(config))} models trained, "
            f"{pre['epochs']} epochs each" + (f"; imported: {', '.join(imported)}" if imported else "")
        ),
        "data": (
            f"{data['image_size']} px; targets {', '.join(config['targets']) or 'none'}; generated datasets: "
            f"{data['n_train']} training and {data['n_test']} test images"
            + (f"; image folders: {', '.join(data['folders'])}" if data["folders"] else "")
        ),
        "evaluation": (
            f"{describe_attack(evaluation_attack_fields(config))} at test ε "
            f"{', '.join(f'{e:g}' for e in evaluation_radii(config))} on "
            f"{ev['n_test'] or 'all'} test images; gradient-masking checks at ε = {masking_radius(config):g}"
        ),
    }
