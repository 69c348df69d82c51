"""The schema is the one source of defaults: the workflow fills them, and the library's
configuration objects take theirs from it."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import SCHEMA

from advinfo.datasets.builders import BuildOptions
from advinfo.information.inversion import InversionConfig
from advinfo.information.mutual_info import EstimatorConfig
from advinfo.information.posterior import PosteriorConfig
from advinfo.plan.grid import FINETUNE_GRID_KEYS, finetune_params, train_params
from advinfo.plan.hyperparameters import TrainConfig, train_keys
from advinfo.plan.methods import method_hyperparameters, method_names
from advinfo.plan.schema import default_config, fill_defaults, load_schema, section_defaults
from advinfo.robust.masking import MaskingConfig

# pretrain keys that are not hyperparameters of a run: the grid, and how (not what) it computes
NOT_TRAINING = {"epsilons", "methods", "all_methods_at", "seeds", "monitor_size", "gpus", "threads"}
NOT_TRAINING |= {"channels_last", "compile", "cuda_graph"}
FROM_SCHEMA = [TrainConfig, PosteriorConfig, InversionConfig, EstimatorConfig, BuildOptions, MaskingConfig]


def test_filling_defaults_reaches_nested_sections_and_list_items():
    config = {"pretrain": {"epochs": 3}, "imported": [{"source": "imnet", "arch": "resnet18_imagenet", "eps": 1}]}
    fill_defaults(config)
    assert config["pretrain"]["epochs"] == 3 and config["pretrain"]["batch_size"] == 64
    assert config["transfer"]["finetune"]["stages"] == [0, 1, 2]  # a section absent altogether
    assert config["imported"][0]["method"] == "pgd" and config["imported"][0]["image_size"] is None
    assert default_config() == fill_defaults({}) and default_config() is not default_config()


def test_every_pretrain_key_is_a_training_field_or_a_grid_key():
    """A new pretrain.* key must either reach TrainConfig or be declared as not training."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"method", "eps", "seed", "options"}
    fields |= {key for name in method_names() for key in method_hyperparameters(name)}  # TrainConfig.options
    keys = set(load_schema(SCHEMA)["properties"]["pretrain"]["properties"])
    assert fields <= keys, f"TrainConfig fields without a schema key: {fields - keys}"
    assert keys - fields == NOT_TRAINING


@pytest.mark.parametrize("cls", FROM_SCHEMA, ids=lambda c: c.__name__)
def test_library_configs_take_the_schema_defaults(cls):
    """Every field is either the schema's (by name or cls.KEYS) or has a default of the library's
    own for a value the schema does not hold; none repeats a schema default in code."""
    section = section_defaults(cls.SECTION)
    built = cls.from_schema() if cls is not TrainConfig else TrainConfig.from_schema("pgd", 0.5)
    for f in dataclasses.fields(cls):
        key = cls.KEYS.get(f.name, f.name)
        if key in section:
            expected = tuple(section[key]) if isinstance(getattr(built, f.name), tuple) else section[key]
            assert getattr(built, f.name) == expected, f.name
            assert f.default is dataclasses.MISSING, f"{cls.__name__}.{f.name} repeats the schema's default"
        else:
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            assert has_default or f.name in ("method", "eps", "seed"), f.name


def test_job_parameters_build_a_complete_run_config(default_config):
    config = fill_defaults(default_config)
    from advinfo.plan.grid import model_grid

    for spec in model_grid(config):
        params = train_params(config, spec)
        assert set(params) == {*train_keys(spec.method), "method", "eps", "seed"}
        assert TrainConfig.from_schema(**params).method == spec.method
    assert "trades_beta" in train_keys("trades") and "trades_beta" not in train_keys("pgd")
    tune = TrainConfig.from_schema(**finetune_params(config, 3))
    assert (tune.method, tune.eps, tune.seed, tune.epochs) == ("standard", 0.0, 3, 3)
    assert not set(FINETUNE_GRID_KEYS) & {f.name for f in dataclasses.fields(TrainConfig)}
