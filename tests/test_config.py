"""The config schema rejects bad configs with one clear line naming the key."""

from __future__ import annotations

import copy

import pytest
from conftest import SCHEMA, with_change

from advinfo.datasets.builders import BUILDERS
from advinfo.datasets.readers import TORCHVISION
from advinfo.nets.models import ARCHS, build_model
from advinfo.plan.catalog import EMBEDDED_DATASETS, TORCHVISION_DATASETS
from advinfo.plan.checks import ConfigError, check_consistency, check_schema
from advinfo.plan.grid import (
    ARCH_STAGES,
    import_params,
    imported_entry,
    imported_models,
    source_images,
)
from advinfo.plan.schema import fill_defaults, load_schema
from advinfo.robust.attacks import NORMS
from advinfo.training.methods import METHODS


def check_config(config: dict, schema=SCHEMA) -> dict:
    """What the workflow checks while it parses, short of dataset sizes: the schema's messages,
    then the rules across keys on a copy with the defaults filled; returns that copy."""
    config = copy.deepcopy(config)
    check_schema(config, schema)
    fill_defaults(config, load_schema(schema))
    check_consistency(config)
    return config


def test_default_config_is_valid(default_config):
    check_config(default_config, SCHEMA)


def test_empty_config_is_valid_and_schema_defaults_cover_every_key():
    check_config({}, SCHEMA)
    schema = load_schema(SCHEMA)

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            assert "default" in sub, f"{path}{name} has no default"
            assert sub.get("description"), f"{path}{name} has no description"
            walk(sub, f"{path}{name}.")

    walk(schema, "")


BAD = [
    # (change, value, fragments the message must contain)
    ("pretrain.epochs", "ten", ["'pretrain.epochs'", "not of type 'integer'", "number of training epochs"]),
    ("pretrain.epochs", 0, ["'pretrain.epochs'", "less than the minimum of 1"]),
    ("pretrain.epsilons", [0, -0.5], ["'pretrain.epsilons[1]'", "-0.5", "minimum of 0"]),
    ("pretrain.epsilons", [], ["'pretrain.epsilons'", "should be non-empty"]),
    ("sources", ["cifar"], ["'sources[0]'", "unknown dataset 'cifar'", "did you mean 'cifar10'?"]),
    ("sources", "shapes", ["'sources'", "not of type 'array'"]),
    ("archs", ["resnet34"], ["'archs[0]'", "'resnet34' is not one of", "resnet18"]),
    ("pretrain.epoch", 5, ["'pretrain.epoch' is unknown", "did you mean 'epochs'"]),
    ("sourcez", ["shapes"], ["'sourcez' is unknown", "did you mean 'sources'"]),
    ("pretrain.methods", ["fgsm"], ["'pretrain.methods[0]'", "'fgsm' is not one of"]),
    (
        "pretrain.all_methods_at",
        [0.3],
        ["'pretrain.all_methods_at'", "[0.3] not among the non-zero pretrain.epsilons", "([0.5])"],
    ),
    ("pretrain.norm", "l1", ["'pretrain.norm'", "'l1' is not one of"]),
    ("pretrain.lr", -0.1, ["'pretrain.lr'", "less than or equal to the minimum of 0"]),
    ("pretrain.random_start", "yes", ["'pretrain.random_start'", "not of type 'boolean'"]),
    ("data.image_size", 4, ["'data.image_size'", "minimum of 8"]),
    ("data", [1, 2], ["'data'", "not of type 'object'"]),
    ("evaluate.epsilons", [0.5, 0], ["'evaluate.epsilons[1]'", "less than or equal to the minimum of 0"]),
    ("pretrain.seeds", [0, 0], ["'pretrain.seeds'", "non-unique"]),
    ("pretrain.epsilons", [0.5, 0.50], ["'pretrain.epsilons'", "duplicates"]),
    ("targets", ["Cifar10"], ["'targets[0]'", "does not match"]),
    ("transfer.probe.penalties", [0.1, 0], ["'transfer.probe.penalties[1]'", "L2 penalty"]),
    ("transfer.probe.val_fraction", 1.0, ["'transfer.probe.val_fraction'", "maximum of 1"]),
    ("transfer.finetune.stages", [0, 5], ["'transfer.finetune.stages[1]'", "maximum of 4"]),
    (
        "transfer.finetune.stages",
        [0, 4],
        ["'transfer.finetune.stages'", "more stages than resnet_mini has", "from 0 to 3"],
    ),
    ("transfer.robustness.epsilons", [0.5, 0.5], ["'transfer.robustness.epsilons'", "duplicates"]),
    ("transfer.robustness.epsilons", 0.5, ["'transfer.robustness.epsilons'", "or null"]),
    ("transfer.probe.l2", [0.1], ["'transfer.probe.l2' is unknown"]),
    ("distance.measures", ["wasserstein"], ["'distance.measures[0]'", "'wasserstein' is not one of"]),
    ("distance.measures", [], ["'distance.measures'", "should be non-empty"]),
    (
        "distance.reference",
        {"method": "pgd", "eps": 0},
        ["'distance.reference'", "method 'pgd' with eps 0", "method standard with eps 0"],
    ),
    ("distance.reference", {"method": "standard", "eps": 1}, ["'distance.reference'", "'standard' with eps 1"]),
    ("distance.reference", {"source": "cifar"}, ["'distance.reference.source'", "expected one of sources"]),
    ("distance.gap_mode", "finetune3", ["'distance.gap_mode'", "not a transfer result", "finetune2"]),
    ("distance.gap_mode", "best", ["'distance.gap_mode'", "does not match"]),
    ("distance.gamma", 0, ["'distance.gamma'", "gamma of the domain similarity"]),
]


@pytest.mark.parametrize("path,value,fragments", BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_bad_config_names_key_and_expectation(default_config, path, value, fragments):
    with pytest.raises(ConfigError) as info:
        check_config(with_change(default_config, path, value), SCHEMA)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"
    assert message.count("\n  - ") == 1, f"expected exactly one problem line:\n{message}"


def test_several_problems_are_all_reported(default_config):
    config = with_change(with_change(default_config, "pretrain.epochs", "x"), "archs", ["vgg"])
    with pytest.raises(ConfigError, match="2 problems") as info:
        check_config(config, SCHEMA)
    assert "'archs[0]'" in str(info.value) and "'pretrain.epochs'" in str(info.value)


def test_schema_enums_match_the_library():
    props = load_schema(SCHEMA)["properties"]
    assert set(props["archs"]["items"]["enum"]) == set(ARCHS)
    assert set(props["pretrain"]["properties"]["methods"]["items"]["enum"]) == set(METHODS) - {"standard"}
    assert set(props["pretrain"]["properties"]["norm"]["enum"]) == set(NORMS)
    reference = props["distance"]["properties"]["reference"]["properties"]
    assert EMBEDDED_DATASETS == tuple(BUILDERS) and TORCHVISION_DATASETS == tuple(TORCHVISION)
    assert reference["arch"]["type"] == ["string", "null"]  # an imported model's arch too: a pattern
    assert set(reference["method"]["enum"]) == set(METHODS)
    for arch, stages in ARCH_STAGES.items():
        assert len(build_model(arch, 2).stages) == stages


def test_schema_defaults_are_the_embedded_default(default_config):
    """config/README.md documents one default per key: the file and the schema must agree."""
    from snakemake.utils import validate

    from_schema, from_file = {}, copy.deepcopy(default_config)
    validate(from_schema, str(SCHEMA))
    validate(from_file, str(SCHEMA))
    assert from_schema == from_file


def test_each_unknown_key_gets_its_own_line(default_config):
    config = with_change(with_change(default_config, "pretrain.epoch", 3), "pretrain.gama", 0.1)
    with pytest.raises(ConfigError, match="2 problems") as info:
        check_config(config, SCHEMA)
    lines = str(info.value).splitlines()[1:]
    assert lines[0].startswith("  - config key 'pretrain.epoch' is unknown")
    assert lines[1].startswith("  - config key 'pretrain.gama' is unknown; did you mean 'gamma'?")


@pytest.mark.parametrize(
    "path, value, fragment",
    [
        ("targets", ["digits", "cifar11"], "'targets[1]': unknown dataset 'cifar11'"),
        ("sources", ["birds"], "'sources[0]': unknown dataset 'birds'"),
        ("inversion.ood_dataset", "svhm", "'inversion.ood_dataset': unknown dataset 'svhm'"),
        ("distance.reference.source", "imagenet", "'distance.reference.source': 'imagenet'"),
    ],
)
def test_unknown_datasets_and_sources_are_named(default_config, path, value, fragment):
    with pytest.raises(ConfigError) as info:
        check_config(with_change(default_config, path, value), SCHEMA)
    assert fragment in str(info.value) and str(info.value).count("\n  - ") == 1


def test_folder_datasets_and_imported_models_join_the_grid(default_config):
    entry = {
        "source": "imagenet",
        "arch": "resnet50_imagenet",
        "eps": 3,
        "path": "x.pt",
        "sha256": "a" * 64,
        "format": "robustness",
        "images": "birds",
    }
    config = with_change(with_change(default_config, "data.folders", {"birds": "/data/cub"}), "imported", [entry])
    config = check_config(with_change(config, "targets", ["birds", "cifar10"]), SCHEMA)
    (spec,) = imported_models(config)
    assert spec.path == "imagenet/resnet50_imagenet/pgd-eps3-seed0"
    assert imported_entry(config, spec) == entry | {"method": "pgd", "image_size": None}
    assert import_params(config, spec)["image_size"] == 224
    assert source_images(config, "imagenet") == "birds" and source_images(config, "shapes") == "shapes"
    clash = with_change(config, "imported", [entry | {"source": "shapes"}, entry, entry])
    with pytest.raises(ConfigError) as info:
        check_config(clash, SCHEMA)
    assert "'imported[0].source': 'shapes' is also in sources" in str(info.value)
    assert "'imported[2]': a second model" in str(info.value)


def test_a_config_without_a_grid_needs_an_imported_reference_and_one_images_dataset_per_source(default_config):
    """sources may be empty when every model is imported: the distance reference must then be named
    and be one of them, and the models of one source stand for one images dataset."""
    entry = {
        "source": "imnet",
        "arch": "resnet50_imagenet",
        "eps": 3,
        "path": "x.pt",
        "sha256": "a" * 64,
        "format": "robustness",
        "images": "digits",
    }
    reference = {"source": "imnet", "arch": "resnet50_imagenet", "method": "pgd", "eps": 3, "seed": 0}
    config = with_change(with_change(default_config, "sources", []), "imported", [entry])
    check_config(with_change(config, "distance.reference", reference))
    with pytest.raises(ConfigError, match="source and arch are null, but sources is empty"):
        check_config(config)
    with pytest.raises(ConfigError, match=r"imnet/resnet50_imagenet/standard-eps0-seed0 is not imported"):
        check_config(with_change(config, "distance.reference", reference | {"method": "standard", "eps": 0}))
    two = with_change(config, "imported", [entry, entry | {"eps": 0, "images": "letters"}])
    clash = r"'imported\[1\].images': 'letters', but other models of source 'imnet' use 'digits'"
    with pytest.raises(ConfigError, match=clash):
        check_config(with_change(two, "distance.reference", reference))
