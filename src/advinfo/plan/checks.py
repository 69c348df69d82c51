"""Config checking with messages a researcher can act on.

``check_schema`` validates against the workflow's JSON schema and reports every problem on one
line that names the key (``pretrain.epsilons[1]``), what was found, and what the schema expects
(its ``description``), with a did-you-mean for unknown keys. ``check_consistency`` then checks,
on the config with its defaults filled, the rules across keys that a schema cannot say.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema

from advinfo.plan.catalog import EMBEDDED_DATASETS, TORCHVISION_DATASETS
from advinfo.plan.grid import ARCH_STAGES, imported_models, reference_model, transfer_modes
from advinfo.plan.hyperparameters import consistent
from advinfo.plan.schema import load_schema
from advinfo.plan.zoo import LEADERBOARD_EPS, imported_arch, is_zoo, zoo_models


class ConfigError(ValueError):
    """The config does not match the schema."""


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


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    """The suffix "; did you mean 'x'?" naming the closest of ``known`` to a mistyped ``name``, or ''."""
    hint = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def _describe(error: jsonschema.ValidationError, schema: dict[str, Any]) -> list[str]:
    """One line per problem: an unknown-keys error yields a line per unknown key."""
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        lines = []
        for name in sorted(set(error.instance) - set(allowed)):
            full = f"{key}.{name}" if error.absolute_path else name
            lines.append(
                f"config key '{full}' is unknown{_did_you_mean(name, allowed)} (allowed here: {', '.join(allowed)})"
            )
        return lines
    expected = _subschema(schema, error.absolute_path).get("description", "")
    return [f"config key '{key}': {error.message}" + (f" — expected {expected}" if expected else "")]


def check_schema(config: dict[str, Any], schema: dict[str, Any] | str | Path) -> None:
    """Raise :class:`ConfigError` listing every violation of the schema, one clear line each."""
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [line for error in errors for line in _describe(error, schema)]
    if problems:
        body = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"invalid config ({len(problems)} problem{'s' * (len(problems) > 1)}):\n{body}")


def check_consistency(config: dict[str, Any]) -> None:
    """Rules across keys that a JSON schema cannot say, on a config whose defaults are filled."""
    problems = []
    transfer = config["transfer"]
    eps_lists = {
        "pretrain.epsilons": config["pretrain"]["epsilons"],
        "evaluate.epsilons": config["evaluate"]["epsilons"],
        "transfer.robustness.epsilons": transfer["robustness"]["epsilons"] or [],
    }
    for key, values in eps_lists.items():
        if len(set(map(float, values))) != len(values):
            problems.append(f"config key '{key}': {values} has duplicates — expected distinct values")
    stages = transfer["finetune"]["stages"]
    for arch in config["archs"]:
        if stages and max(stages) > ARCH_STAGES[arch]:
            problems.append(
                f"config key 'transfer.finetune.stages': {stages} unfreezes more stages than "
                f"{arch} has — expected integers from 0 to {ARCH_STAGES[arch]}"
            )
    problems += _method_problems(config)
    problems += _distance_problems(config)
    problems += _dataset_problems(config)
    problems += _imported_problems(config)
    problems += _zoo_problems(config)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(f"  - {p}" for p in problems))


def _method_problems(config: dict[str, Any]) -> list[str]:
    """Every radius of ``pretrain.all_methods_at`` must be a non-zero training radius."""
    pre = config["pretrain"]
    trained = {float(e) for e in pre["epsilons"] if float(e) > 0}
    stray = [e for e in pre["all_methods_at"] or [] if float(e) not in trained]
    if stray:
        return [
            f"config key 'pretrain.all_methods_at': {stray} not among the non-zero pretrain.epsilons "
            f"({sorted(trained)}) — expected radii that are trained"
        ]
    return []


def _distance_problems(config: dict[str, Any]) -> list[str]:
    """The reference network's method must match its ε; the plotted gap must be a transfer mode that runs."""
    distance = config["distance"]
    problems = []
    ref = distance["reference"]
    method, eps = ref["method"], float(ref["eps"])
    if not consistent(method, eps):
        problems.append(
            f"config key 'distance.reference': method {method!r} with eps {eps:g} — expected "
            f"method standard with eps 0, or an adversarial method with eps > 0"
        )
    mode = distance["gap_mode"]
    modes = transfer_modes(config["transfer"]["finetune"]["stages"])
    if mode not in modes:
        problems.append(
            f"config key 'distance.gap_mode': {mode!r} is not a transfer result of this config "
            f"— expected one of {', '.join(modes)}"
        )
    return problems


def dataset_names(config: dict[str, Any]) -> list[str]:
    """Every dataset a config can name: embedded, torchvision's, and its data.folders."""
    return [*EMBEDDED_DATASETS, *TORCHVISION_DATASETS, *config["data"]["folders"]]


def _dataset_problems(config: dict[str, Any]) -> list[str]:
    """Every dataset named anywhere must be one the workflow can build."""
    known = dataset_names(config)
    named = [(f"sources[{i}]", s) for i, s in enumerate(config["sources"])]
    named += [(f"targets[{i}]", t) for i, t in enumerate(config["targets"])]
    named += [("inversion.ood_dataset", config["inversion"]["ood_dataset"])]
    named += [(f"imported[{i}].images", m["images"]) for i, m in enumerate(config["imported"])]
    problems = []
    for key, name in named:
        if name is not None and name not in known:
            problems.append(
                f"config key '{key}': unknown dataset {name!r}{_did_you_mean(name, known)}"
                f" — expected one of {', '.join(known)}, or a name added under data.folders"
            )
    return problems


def _imported_problems(config: dict[str, Any]) -> list[str]:
    """Imported models get sources of their own, one model per (source, arch, eps); a distance
    reference must be a model of the grid's sources or an imported one."""
    problems, seen = [], set()
    sources = set(config["sources"])
    for i, entry in enumerate(config["imported"]):
        key = (entry["source"], imported_arch(entry), float(entry["eps"]))
        if entry["source"] in sources:
            problems.append(
                f"config key 'imported[{i}].source': {entry['source']!r} is also in sources — "
                f"expected a name of its own, such as imagenet"
            )
        images = {m["images"] for m in config["imported"] if m["source"] == entry["source"]}
        if len(images) > 1 and entry["images"] != sorted(images)[0]:
            problems.append(
                f"config key 'imported[{i}].images': {entry['images']!r}, but other models of source "
                f"{entry['source']!r} use {sorted(images)[0]!r} — expected one images dataset per source"
            )
        if key in seen:
            problems.append(
                f"config key 'imported[{i}]': a second model for {key} — expected one per (source, arch, eps)"
            )
        seen.add(key)
    reference = config["distance"]["reference"]
    ref = reference["source"]
    imported_sources = {m["source"] for m in config["imported"]}
    allowed = sources | imported_sources
    if ref is not None and ref not in allowed:
        problems.append(
            f"config key 'distance.reference.source': {ref!r} — expected one of sources or of "
            f"imported[].source ({', '.join(sorted(allowed))})"
        )
    elif not sources and (ref is None or reference["arch"] is None):
        problems.append(
            "config key 'distance.reference': source and arch are null, but sources is empty — expected "
            "an imported model's source and arch"
        )
    elif ref in imported_sources - sources and reference_model(config) not in imported_models(config):
        names = ", ".join(spec.path for spec in imported_models(config) if spec.source == ref)
        problems.append(
            f"config key 'distance.reference': {reference_model(config).path} is not imported — expected one of "
            f"the imported models of {ref!r}: {names}"
        )
    return problems


def _zoo_problems(config: dict[str, Any]) -> list[str]:
    """One line per ``robustbench`` entry that robustbench cannot build (the package missing, an
    unknown (dataset, threat) or model name), a fine-tuning depth that needs residual stages, and
    leaderboard numbers where there is no AutoAttack board to compare with."""
    problems = [
        f"config key 'imported[{i}].leaderboard': {e['format']} checkpoints have no leaderboard — expected it "
        f"only for format robustbench"
        for i, e in enumerate(config["imported"])
        if "leaderboard" in e and not is_zoo(e)
    ]
    entries = [(i, e) for i, e in enumerate(config["imported"]) if is_zoo(e)]
    if entries and not zoo_models():
        return problems + [
            f"config key 'imported[{entries[0][0]}].format': robustbench needs the robustbench package — "
            "pip install -e '.[zoo]'"
        ]
    stages = config["transfer"]["finetune"]["stages"]
    for i, entry in entries:
        key = f"config key 'imported[{i}].name'"
        known = zoo_models().get((entry["dataset"], entry["threat"]))
        if known is None:
            problems.append(f"{key}: robustbench has no {entry['dataset']}/{entry['threat']} models")
        elif entry["name"] not in known:
            problems.append(
                f"{key}: robustbench knows no {entry['dataset']}/{entry['threat']} model {entry['name']!r}"
                f"{_did_you_mean(entry['name'], known)}"
            )
        if "leaderboard" in entry and (entry["dataset"], entry["threat"]) not in LEADERBOARD_EPS:
            problems.append(
                f"config key 'imported[{i}].leaderboard': robustbench's {entry['dataset']}/{entry['threat']} board is "
                f"not AutoAttack at one radius — expected it only for "
                + ", ".join(f"{d}/{t}" for d, t in LEADERBOARD_EPS)
            )
        if stages and max(stages) > 0:
            problems.append(
                f"config key 'transfer.finetune.stages': {stages} unfreezes residual stages, which the zoo model "
                f"imported[{i}] ({entry['name']}) does not expose — expected [] or [0] (its head only)"
            )
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
