"""Config checking with messages a researcher can act on, and the model grid it defines.

``check_config`` validates against the workflow's JSON schema and reports every problem
on one line that names the key (``pretrain.epsilons[1]``), what was found, and what the
schema expects (its ``description``), with a did-you-mean for unknown keys.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from advinfo.catalog import EMBEDDED_DATASETS, TORCHVISION_DATASETS

# Residual stages of each architecture (the most partial fine-tuning can unfreeze).
ARCH_STAGES = {"resnet_mini": 3, "resnet18": 4, "resnet50": 4, "resnet18_imagenet": 4, "resnet50_imagenet": 4}
WIDE_ARCHS = ("resnet_mini", "resnet18")  # the architectures whose model.width is a choice (models.DEFAULT_WIDTH)


class ConfigError(ValueError):
    """The config does not match the schema."""


def load_schema(path: str | Path) -> dict[str, Any]:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _key(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _subschema(schema: dict[str, Any], path: Any) -> dict[str, Any]:
    """The schema node that describes the config value at ``path``."""
    node = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def _describe(error: jsonschema.ValidationError, schema: dict[str, Any]) -> list[str]:
    """One line per problem: an unknown-keys error yields a line per unknown key."""
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        lines = []
        for name in sorted(set(error.instance) - set(allowed)):
            full = f"{key}.{name}" if error.absolute_path else name
            hint = difflib.get_close_matches(name, allowed, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            lines.append(f"config key '{full}' is unknown{suggestion} (allowed here: {', '.join(allowed)})")
        return lines
    expected = _subschema(schema, error.absolute_path).get("description", "")
    return [f"config key '{key}': {error.message}" + (f" — expected {expected}" if expected else "")]


def check_config(config: dict[str, Any], schema: dict[str, Any] | str | Path) -> None:
    """Raise :class:`ConfigError` listing every violation, one clear line each."""
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [line for error in errors for line in _describe(error, schema)]
    if problems:
        body = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"invalid config ({len(problems)} problem{'s' * (len(problems) > 1)}):\n{body}")
    _check_semantics(config)


def _check_semantics(config: dict[str, Any]) -> None:
    """Rules a JSON schema cannot say."""
    problems = []
    transfer = config.get("transfer", {})
    eps_lists = {
        "pretrain.epsilons": config.get("pretrain", {}).get("epsilons", []),
        "evaluate.epsilons": config.get("evaluate", {}).get("epsilons", []),
        "transfer.robustness.epsilons": transfer.get("robustness", {}).get("epsilons") or [],
    }
    for key, values in eps_lists.items():
        if len(set(map(float, values))) != len(values):
            problems.append(f"config key '{key}': {values} has duplicates — expected distinct values")
    stages = transfer.get("finetune", {}).get("stages", [])
    for arch in config.get("archs", []):
        if stages and max(stages) > ARCH_STAGES[arch]:
            problems.append(f"config key 'transfer.finetune.stages': {stages} unfreezes more stages than "
                            f"{arch} has — expected integers from 0 to {ARCH_STAGES[arch]}")  # fmt: skip
    problems += _method_problems(config)
    problems += _distance_problems(config)
    problems += _dataset_problems(config)
    problems += _imported_problems(config)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


def _method_problems(config: dict[str, Any]) -> list[str]:
    """Every radius of ``pretrain.all_methods_at`` must be a non-zero training radius."""
    pre = config.get("pretrain", {})
    trained = {float(e) for e in pre.get("epsilons", []) if float(e) > 0}
    stray = [e for e in pre.get("all_methods_at") or [] if float(e) not in trained]
    if stray:
        return [f"config key 'pretrain.all_methods_at': {stray} not among the non-zero pretrain.epsilons "
                f"({sorted(trained)}) — expected radii that are trained"]  # fmt: skip
    return []


def method_epsilons(pre: dict[str, Any], method: str) -> list[float]:
    """The non-zero training radii of ``method``: every one for the first of ``pretrain.methods``,
    those of ``pretrain.all_methods_at`` (all when null) for the others."""
    radii = [float(e) for e in pre["epsilons"] if float(e) > 0]
    if method == pre["methods"][0] or pre.get("all_methods_at") is None:
        return radii
    return [e for e in radii if e in set(map(float, pre["all_methods_at"]))]


def _distance_problems(config: dict[str, Any]) -> list[str]:
    """The reference network's method must match its ε; the plotted gap must be a transfer mode that runs."""
    distance = config.get("distance", {})
    problems = []
    ref = distance.get("reference", {})
    method, eps = ref.get("method", "standard"), float(ref.get("eps", 0))
    if (method == "standard") != (eps == 0):
        problems.append(f"config key 'distance.reference': method {method!r} with eps {eps:g} — expected "
                        f"method standard with eps 0, or an adversarial method with eps > 0")  # fmt: skip
    mode = distance.get("gap_mode", "linear")
    modes = transfer_modes(config.get("transfer", {}).get("finetune", {}).get("stages", [0, 1, 2]))
    if mode not in modes:
        problems.append(f"config key 'distance.gap_mode': {mode!r} is not a transfer result of this config "
                        f"— expected one of {', '.join(modes)}")  # fmt: skip
    return problems


def dataset_names(config: dict[str, Any]) -> list[str]:
    """Every dataset a config can name: embedded, torchvision's, and its data.folders."""
    return [*EMBEDDED_DATASETS, *TORCHVISION_DATASETS, *config.get("data", {}).get("folders", {})]


def _dataset_problems(config: dict[str, Any]) -> list[str]:
    """Every dataset named anywhere must be one the workflow can build."""
    known = dataset_names(config)
    named = [(f"sources[{i}]", s) for i, s in enumerate(config.get("sources", []))]
    named += [(f"targets[{i}]", t) for i, t in enumerate(config.get("targets", []))]
    named += [("inversion.ood_dataset", config.get("inversion", {}).get("ood_dataset"))]
    named += [(f"imported[{i}].images", m.get("images")) for i, m in enumerate(config.get("imported", []))]
    problems = []
    for key, name in named:
        if name is not None and name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            guess = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(f"config key '{key}': unknown dataset {name!r}{guess}"
                            f" — expected one of {', '.join(known)}, or a name added under data.folders")  # fmt: skip
    return problems


def _imported_problems(config: dict[str, Any]) -> list[str]:
    """Imported models get sources of their own, one model per (source, arch, eps); a distance
    reference must be a model of the grid's sources or an imported one."""
    problems, seen = [], set()
    sources = set(config.get("sources", []))
    for i, entry in enumerate(config.get("imported", [])):
        key = (entry.get("source"), entry.get("arch"), float(entry.get("eps", 0)))
        if entry.get("source") in sources:
            problems.append(f"config key 'imported[{i}].source': {entry['source']!r} is also in sources — "
                            f"expected a name of its own, such as imagenet")  # fmt: skip
        if key in seen:
            problems.append(f"config key 'imported[{i}]': a second model for {key} — "
                            f"expected one per (source, arch, eps)")  # fmt: skip
        seen.add(key)
    ref = config.get("distance", {}).get("reference", {}).get("source")
    allowed = sources | {m.get("source") for m in config.get("imported", [])}
    if ref is not None and ref not in allowed:
        problems.append(f"config key 'distance.reference.source': {ref!r} — expected one of sources or of "
                        f"imported[].source ({', '.join(sorted(allowed))})")  # fmt: skip
    return problems


def expand_user_paths(config: dict[str, Any]) -> None:
    """Expand a leading ``~`` in every path of the (validated) config, in place: Python and
    Snakemake would otherwise make a folder literally named ``~``. Relative paths stay relative
    to the working directory (Snakemake's ``--directory``)."""
    data = config["data"]
    for key in ("root", "raw_root"):
        if data[key] is not None:
            data[key] = os.path.expanduser(data[key])
    data["folders"] = {name: os.path.expanduser(path) for name, path in data["folders"].items()}
    for entry in config["imported"]:
        entry["path"] = os.path.expanduser(entry["path"])


def transfer_modes(stages: list[int]) -> list[str]:
    """The transfer results of every (model, target): the linear probe and each fine-tuning depth."""
    return ["linear"] + [f"finetune{k}" for k in stages]


def format_eps(eps: float) -> str:
    """Canonical text of an epsilon in paths: 0, 0.25, 1, 2.5."""
    return f"{float(eps):g}"


@dataclass(frozen=True)
class ModelSpec:
    """One pretrained network of the grid."""

    source: str
    arch: str
    method: str
    eps: float
    seed: int

    @property
    def path(self) -> str:
        """Relative directory of this model's outputs."""
        return f"{self.source}/{self.arch}/{self.method}-eps{format_eps(self.eps)}-seed{self.seed}"


# The identifying keys of a model, in the order results tables use.
MODEL_KEYS = ["source", "arch", "method", "eps", "seed"]


def model_record(wildcards: Any) -> dict[str, Any]:
    """The identifying keys of one model (from a job's wildcards), typed, for result records."""
    return {"source": wildcards.source, "arch": wildcards.arch, "method": wildcards.method,
            "eps": float(wildcards.eps), "seed": int(wildcards.seed)}  # fmt: skip


def model_label(method: str, eps: float) -> str:
    """How tables and figures name a model: 'standard' or '<method> ε=<eps>'."""
    return "standard" if float(eps) == 0 else f"{method} ε={float(eps):g}"


def model_grid(config: dict[str, Any]) -> list[ModelSpec]:
    """Every (source, arch, method, eps, seed): eps 0 is 'standard', each eps > 0 is trained by
    the first method of ``pretrain.methods``, and by the others where ``method_epsilons`` says."""
    pre = config["pretrain"]
    specs = []
    for source in config["sources"]:
        for arch in config["archs"]:
            for seed in pre["seeds"]:
                for eps in map(float, pre["epsilons"]):
                    methods = ["standard"] if eps == 0 else [m for m in pre["methods"] if eps in method_epsilons(pre, m)]
                    specs += [ModelSpec(source, arch, m, eps, int(seed)) for m in methods]
    return specs


def imported_models(config: dict[str, Any]) -> list[ModelSpec]:
    """The models of ``imported``: method standard at ε = 0, else the entry's method; seed 0."""
    return [ModelSpec(m["source"], m["arch"], "standard" if float(m["eps"]) == 0 else m.get("method", "pgd"),
                      float(m["eps"]), 0) for m in config.get("imported", [])]  # fmt: skip


def imported_entry(config: dict[str, Any], spec: ModelSpec) -> dict[str, Any]:
    """The ``imported`` entry that makes model ``spec``."""
    for entry, imported in zip(config.get("imported", []), imported_models(config)):
        if imported == spec:
            return entry
    raise ValueError(f"no imported[] entry makes the model {spec.path}")


def source_images(config: dict[str, Any], source: str) -> str:
    """The dataset whose images stand for ``source`` in evaluation, Fisher, posterior, t-SNE and
    inversion: the source itself, or ``imported[].images`` for an imported model's source."""
    return next((m["images"] for m in config.get("imported", []) if m["source"] == source), source)


def reference_model(config: dict[str, Any]) -> ModelSpec:
    """The one network whose features every dataset distance uses (``distance.reference``;
    a null source or arch means the first of ``sources`` / ``archs``). It need not be in the
    grid: the pretrain rule builds any model it names."""
    ref = config["distance"]["reference"]
    return ModelSpec(ref["source"] or config["sources"][0], ref["arch"] or config["archs"][0],
                     ref["method"], float(ref["eps"]), int(ref["seed"]))  # fmt: skip


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
    """The radii at which every method of pretrain.methods is trained, and so compared."""
    pre = config["pretrain"]
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
