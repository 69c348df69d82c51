"""The parameters each kind of job gets (advinfo.plan.grid): exactly what decides its result."""

from __future__ import annotations

import copy

import pytest
from conftest import with_change

from advinfo.plan.attack_specs import describe_attack
from advinfo.plan.grid import (
    all_models,
    attack_radii,
    comparison_radii,
    dataset_options,
    evaluation_attack_fields,
    evaluation_radii,
    gap_sources,
    head_probe,
    history_epochs,
    masking_options,
    masking_radius,
    method_at,
    model_grid,
    ood_dataset,
    reference_model,
    run_summary,
    train_params,
    transfer_attack,
)
from advinfo.plan.names import ModelSpec, format_eps
from advinfo.plan.schema import fill_defaults


@pytest.fixture
def config(default_config) -> dict:
    return fill_defaults(copy.deepcopy(default_config))


def test_dataset_options_hold_what_decides_the_content_and_nothing_else(config):
    config["data"]["folders"] = {"birds": "/data/cub"}
    config["data"]["raw_root"] = "/data/raw"
    assert dataset_options(config, "shapes") == {"seed": 0, "n_train": 4000, "n_test": 1000}
    assert dataset_options(config, "digits") == {"seed": 0}  # embedded: nothing to choose
    assert dataset_options(config, "cifar10") == {"seed": 0, "root": "/data/raw", "size": 16}
    config["data"]["resize"] = 32
    assert dataset_options(config, "birds") == {"seed": 0, "folder": "/data/cub", "size": 32}


def test_a_method_gets_its_own_keys_and_no_other_methods(config):
    trades = train_params(config, ModelSpec("shapes", "resnet_mini", "trades", 0.5, 0))
    pgd = train_params(config, ModelSpec("shapes", "resnet_mini", "pgd", 0.5, 0))
    assert trades["trades_beta"] == 6.0 and "arat_alpha" not in trades
    assert "trades_beta" not in pgd and set(trades) - set(pgd) == {"trades_beta"}
    assert not {"epsilons", "gpus", "channels_last", "compile", "cuda_graph", "monitor_size"} & set(pgd)
    assert (pgd["method"], pgd["eps"], pgd["seed"]) == ("pgd", 0.5, 0)


def test_only_a_method_without_labels_gets_the_probe_options(config):
    assert head_probe(config, "wcmi") == config["transfer"]["probe"]
    assert all(head_probe(config, m) is None for m in ("standard", "pgd", "trades", "arat"))


def test_the_transfer_attack_takes_the_training_radii_and_norm(config):
    spec = {"name": "apgd-ce", "norm": "l2", "steps": 10, "iterations": 100, "square_queries": 5000}
    assert transfer_attack(config) == {"epsilons": [0.5], "n_test": 200, "spec": spec}


def test_the_evaluation_attack_is_the_configs(config):
    spec = evaluation_attack_fields(config)
    assert spec == {"name": "apgd-ce", "norm": "l2", "steps": 10, "iterations": 100, "square_queries": 5000}
    assert describe_attack(spec) == "APGD-CE (AutoAttack's first attack; 10 iterations)"
    config["evaluate"]["attack"] = "autoattack"  # the standard version's budget by default
    text = describe_attack(evaluation_attack_fields(config))
    assert text.startswith("AutoAttack, standard version (APGD-CE, APGD-T, FAB-T: 100 iterations; Square: 5000 queries")
    assert describe_attack({**spec, "name": "pgd"}).startswith("PGD (10 steps")


def test_the_masking_checks_run_at_the_middle_evaluation_radius_unless_given(config):
    assert evaluation_radii(config) == [0.25, 0.5, 1.0] and masking_radius(config) == 0.5
    config["evaluate"]["epsilons"] = [0.5, 1.0]
    assert masking_radius(config) == 0.5  # the lower of the two middle ones
    config["evaluate"]["masking"]["eps"] = 2
    assert masking_radius(config) == 2.0
    assert "eps" not in masking_options(config) and masking_options(config)["large_eps"] == 10.0


def test_the_run_summary_names_config_grid_data_and_attack(config):
    summary = run_summary(config, ["config/config.yaml"])
    assert summary["config"] == "config/config.yaml"
    assert "sources shapes" in summary["grid"] and "5 models trained, 8 epochs each" in summary["grid"]
    assert "targets digits, mnist5k, letters" in summary["data"]
    assert summary["evaluation"].startswith(
        "APGD-CE (AutoAttack's first attack; 10 iterations) at test ε 0.25, 0.5, 1 on 300 test images"
    )


def test_imported_models_come_last_with_one_history_row(config):
    config["imported"] = [
        {"source": "imnet", "arch": "resnet18_imagenet", "eps": 0, "method": "pgd", "images": "digits"}
    ]
    models = all_models(config)
    assert models[-1] == ModelSpec("imnet", "resnet18_imagenet", "standard", 0.0, 0)
    assert history_epochs(config) == [8] * (len(models) - 1) + [None]
    assert method_at(0, "pgd") == "standard" and method_at(0.5, "pgd") == "pgd"


def test_transferred_heads_are_attacked_at_the_training_radii_by_default(config):
    config = with_change(config, "pretrain.epsilons", [0, 1.0, 0.25])
    assert attack_radii(config) == [0.25, 1.0]
    assert attack_radii(with_change(config, "transfer.robustness.epsilons", [2, 0.5])) == [0.5, 2.0]


def test_model_grid_maps_eps_zero_to_standard():
    config = fill_defaults(
        {
            "sources": ["shapes", "digits"],
            "archs": ["resnet_mini"],
            "pretrain": {"epsilons": [0, 0.5, 1.0], "methods": ["pgd"], "seeds": [0, 1]},
        }
    )
    grid = model_grid(config)
    assert len(grid) == 2 * 3 * 2
    assert ModelSpec("shapes", "resnet_mini", "standard", 0.0, 1) in grid
    assert ModelSpec("digits", "resnet_mini", "pgd", 1.0, 0) in grid
    assert not any(s.method == "pgd" and s.eps == 0 for s in grid)
    assert ModelSpec("shapes", "resnet_mini", "pgd", 1.0, 0).path == "shapes/resnet_mini/pgd-eps1-seed0"


def test_other_methods_train_only_where_all_methods_are_compared():
    pre = {
        "epsilons": [0, 0.25, 0.5, 1.0],
        "methods": ["pgd", "arat", "wcmi"],
        "seeds": [0],
        "all_methods_at": [0.5, 1],
    }
    config = {"sources": ["shapes"], "archs": ["resnet_mini"], "pretrain": pre, "evaluate": {"epsilons": [0.25, 2.0]}}
    config = fill_defaults(config)
    by_method = {m: sorted(s.eps for s in model_grid(config) if s.method == m) for m in ("standard", *pre["methods"])}
    assert by_method == {"standard": [0.0], "pgd": [0.25, 0.5, 1.0], "arat": [0.5, 1.0], "wcmi": [0.5, 1.0]}
    assert comparison_radii(config) == [0.5, 1.0]
    assert evaluation_radii(config) == [0.25, 0.5, 1.0, 2.0]  # robust accuracy exists at every compared ε
    everywhere = with_change(config, "pretrain.all_methods_at", None)
    assert len(model_grid(everywhere)) == 1 + 3 * 3 and comparison_radii(everywhere) == [0.25, 0.5, 1.0]


@pytest.mark.parametrize("eps,text", [(0, "0"), (0.25, "0.25"), (1.0, "1"), (2.5, "2.5"), (3, "3")])
def test_format_eps_is_canonical(eps, text):
    assert format_eps(eps) == text
    assert float(text) == eps


def test_distance_reference_defaults_to_the_first_source_and_arch(config):
    config = with_change(with_change(config, "sources", ["letters", "shapes"]), "archs", ["resnet18"])
    fill_defaults(config)
    assert reference_model(config) == ModelSpec("letters", "resnet18", "standard", 0.0, 0)
    named = with_change(config, "distance.reference", {"source": "digits", "method": "pgd", "eps": 0.5, "seed": 2})
    fill_defaults(named)
    assert reference_model(named) == ModelSpec("digits", "resnet18", "pgd", 0.5, 2)


def test_gap_figures_need_a_standard_and_a_robust_model(config):
    assert gap_sources(config) == ["shapes"]
    assert gap_sources(with_change(config, "pretrain.epsilons", [0.25, 0.5])) == []
    assert gap_sources(with_change(config, "pretrain.epsilons", [0])) == []
    assert gap_sources(with_change(config, "targets", [])) == []
    assert gap_sources(with_change(config, "targets", ["shapes"])) == []  # only the source: no transfer


def test_out_of_distribution_images_come_from_another_dataset(config):
    assert ood_dataset(config, "shapes") == "digits"
    assert ood_dataset(config, "digits") == "mnist5k"
    assert ood_dataset(with_change(config, "inversion.ood_dataset", "letters"), "shapes") == "letters"
    assert ood_dataset(with_change(config, "inversion.ood_dataset", "shapes"), "shapes") is None
    assert ood_dataset(with_change(config, "targets", []), "shapes") is None
    assert ood_dataset(with_change(config, "inversion.n_ood", 0), "shapes") is None
