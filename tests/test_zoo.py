"""Published robust networks of the RobustBench zoo (``imported[].format: robustbench``): robustbench
builds each architecture and reads its own file layout, the reference our import must match."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from conftest import ROOT, SCHEMA, planned_jobs, snakemake, with_change
from test_config import check_config

from advinfo.nets.checkpoint import load_model, save_model
from advinfo.nets.imported import CheckpointError, file_sha256
from advinfo.plan.checks import ConfigError
from advinfo.plan.grid import import_params, imported_models, leaderboards
from advinfo.plan.zoo import zoo_models, zoo_slug

if importlib.util.find_spec("robustbench") is None:
    pytest.skip("the zoo extra is not installed: pip install -e '.[zoo]'", allow_module_level=True)

from advinfo.nets import zoo  # noqa: E402 - after the skip: it needs robustbench

zoo.robustbench_models()  # robustbench's modules, importable also where its __init__ is not
from robustbench.utils import load_model as robustbench_load_model  # noqa: E402

# name: (architecture, feature dimension, whether z is a pooled ReLU)
ZOO = {
    "Engstrom2019Robustness": ("ResNet-50, the robustness library's", 2048, True),
    "Rice2020Overfitting": ("PreActResNet-18 with a BatchNorm before the head", 512, True),
    "Standard": ("WideResNet-28-10", 640, True),
}


def zoo_file(model_dir: Path, name: str, drop: tuple[str, ...] = (), seed: int = 0) -> Path:
    """A robustbench network with random weights and BatchNorm statistics, saved in the zoo's
    layout (``<model_dir>/cifar10/L2/<name>.pt``, ``module.``-prefixed as the published files are),
    less the keys in ``drop``."""
    torch.manual_seed(seed)
    network = zoo.build_network(name, "cifar10", "L2")
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    state = {f"module.{k}": v for k, v in network.state_dict().items() if k not in drop}
    path = model_dir / "cifar10" / "L2" / f"{name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state}, path)
    return path


def test_the_plan_knows_every_model_robustbench_defines():
    """The plan reads robustbench's model lists without importing it (nor torch): the same names."""
    built = {(d.value, t.value): tuple(named) for d, by in zoo.robustbench_models().items() for t, named in by.items()}
    assert zoo_models() == built
    assert "Engstrom2019Robustness" in zoo_models()[("cifar10", "L2")]
    assert zoo_slug("Wang2023Better_WRN-28-10") == "wang2023better_wrn_28_10"


@pytest.mark.parametrize("name", list(ZOO))
def test_an_imported_zoo_network_is_robustbenchs_and_z_is_its_heads_input(tmp_path, name):
    _, dim, fake = ZOO[name]
    # The published Engstrom2019Robustness file lacks the normalisation buffers (robustbench keeps
    # the architecture's); so does this one.
    drop = ("mu", "sigma") if name == "Engstrom2019Robustness" else ()
    path = zoo_file(tmp_path, name, drop)
    reference = robustbench_load_model(name, tmp_path, "cifar10", "L2").eval()  # reads the file, no download
    ours, info = zoo.import_zoo(path, file_sha256(path), name, "cifar10", "L2")
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    head_input = []
    head = reference.get_submodule(zoo.final_linear(reference))
    head.register_forward_pre_hook(lambda module, args: head_input.append(args[0]))
    with torch.no_grad():
        expected = reference(x)
        torch.testing.assert_close(ours(x), expected, rtol=0, atol=1e-5)
        z = ours.features(x)
    torch.testing.assert_close(z, head_input[0], rtol=0, atol=1e-5)
    assert z.shape == (3, dim) == (3, ours.feature_dim) and info["num_classes"] == 10
    assert ours.has_fake_relu is fake and info["zoo"]["fake_relu"] is fake

    # Saved as a model file of the workflow and rebuilt from its metadata: the same logits.
    meta = {"arch": zoo_slug(name), "num_classes": 10, "mean": None, "std": None, "width": 0, "image_size": 32}
    save_model(ours, meta | {"zoo": info["zoo"]}, tmp_path / "model.pt")
    loaded, _ = load_model(tmp_path / "model.pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected, rtol=0, atol=1e-5)


def test_the_fake_relu_changes_gradients_not_values_and_swish_networks_have_none(tmp_path):
    path = zoo_file(tmp_path, "Rice2020Overfitting")
    model, _ = zoo.import_zoo(path, file_sha256(path), "Rice2020Overfitting", "cifar10", "L2")
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    grads = {}
    for fake in (False, True):
        z = model.features(x, fake_relu=fake)
        (grads[fake],) = torch.autograd.grad(z.sum(), x)
        assert torch.equal(z, model.features(x))
    assert not torch.allclose(grads[True], grads[False])  # units that are off steer the image too
    swish = zoo.zoo_classifier("Rade2021Helper_R18_ddpm", "cifar10", "L2")
    assert not swish.has_fake_relu
    with pytest.raises(ValueError, match="no last ReLU"):
        swish.features(x, fake_relu=True)


def test_a_file_that_runs_code_or_is_not_the_pinned_one_is_refused(tmp_path):
    path = zoo_file(tmp_path, "Rice2020Overfitting")
    with pytest.raises(CheckpointError, match="SHA-256"):
        zoo.import_zoo(path, "0" * 64, "Rice2020Overfitting", "cifar10", "L2")
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": Payload()}, evil)
    with pytest.raises(CheckpointError, match="needs code to unpickle"):
        zoo.import_zoo(evil, file_sha256(evil), "Rice2020Overfitting", "cifar10", "L2")
    assert not (tmp_path / "pwned").exists()
    partial = zoo_file(tmp_path / "partial", "Rice2020Overfitting", drop=("linear.weight",))
    with pytest.raises(CheckpointError, match="missing \\['linear.weight'\\]"):
        zoo.import_zoo(partial, file_sha256(partial), "Rice2020Overfitting", "cifar10", "L2")


def test_the_fetch_command_prints_the_lines_to_pin_and_downloads_nothing_present(tmp_path, capsys):
    """robustbench's loader fetches only absent files: a present one is read, and its hash printed."""
    path = zoo_file(tmp_path, "Rice2020Overfitting")
    zoo.main([str(tmp_path), "cifar10", "L2", "Rice2020Overfitting"])
    assert f'sha256: "{file_sha256(path)}"' in capsys.readouterr().out
    with pytest.raises(KeyError, match="knows no cifar10/L2 model 'Rice'"):
        zoo.build_network("Rice", "cifar10", "L2")


class Payload:
    """A pickle that would run a command when loaded without weights_only."""

    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'pwned'}",))


ENTRY = {
    "source": "rb",
    "format": "robustbench",
    "name": "Rice2020Overfitting",
    "dataset": "cifar10",
    "threat": "L2",
    "eps": 0.5,
    "path": "zoo/cifar10/L2/Rice2020Overfitting.pt",
    "sha256": "a" * 64,
    "images": "cifar10",
    "leaderboard": {"clean": 88.67, "autoattack": 67.68},
}


def test_a_zoo_entry_is_named_by_its_slug_and_checked_against_robustbench(default_config):
    config = check_config(
        with_change(with_change(default_config, "imported", [ENTRY]), "transfer.finetune.stages", [0])
    )
    (spec,) = imported_models(config)
    assert spec.path == "rb/rice2020overfitting/pgd-eps0.5-seed0"
    params = import_params(config, spec)
    assert params["image_size"] == 32 and params["arch"] == "rice2020overfitting" and "leaderboard" not in params
    (board,) = leaderboards(config)
    assert board["radius"] == 0.5 and board["norm"] == "l2" and board["full_test"] == 10000
    bad = [ENTRY | {"name": "Rice2020Overfiting"}, ENTRY | {"threat": "corruptions", "source": "rc"}]
    with pytest.raises(ConfigError) as info:
        check_config(with_change(default_config, "imported", bad))
    message = str(info.value)
    assert "'imported[0].name': robustbench knows no cifar10/L2 model 'Rice2020Overfiting'" in message
    assert "did you mean 'Rice2020Overfitting'?" in message
    assert "'imported[1].leaderboard'" in message
    assert "'transfer.finetune.stages': [0, 1, 2] unfreezes residual stages" in message
    robustness = {k: v for k, v in ENTRY.items() if k not in ("name", "dataset", "threat")} | {"format": "robustness"}
    with pytest.raises(ConfigError, match=r"'imported\[0\]': 'arch' is a required property"):
        check_config(with_change(default_config, "imported", [robustness]), SCHEMA)


ZOO_REFERENCE = {"source": "rb", "arch": "rice2020overfitting", "method": "pgd", "eps": 0.5, "seed": 0}


@pytest.mark.slow
def test_the_whole_tiny_dag_runs_on_a_zoo_model(tmp_path):
    """A RobustBench PreActResNet-18 (random weights, in the zoo's file layout), with no grid
    (sources empty), goes through every stage: evaluation (AutoAttack), Fisher, posterior, t-SNE,
    inversion through its fake ReLU, features, probes, head fine-tuning, transfer robustness and
    the dataset distance from its images as the reference network; its leaderboard numbers
    appear beside ours (not compared: 20 shapes are not CIFAR-10's test set)."""
    path = zoo_file(tmp_path / "zoo", "Rice2020Overfitting")
    entry = ENTRY | {"path": str(path), "sha256": file_sha256(path), "images": "shapes"}
    overlay = {  # the tiny config, with fewer images: each pass of this network costs 50x a tiny one's
        "data": {"n_train": 130},
        "sources": [],  # no grid: the zoo network alone
        "evaluate": {"epsilons": [0.5], "n_test": 20, "masking": {"n_test": 10}},
        "transfer": {"finetune": {"stages": [0]}, "robustness": {"n_test": 20}},
        "distance": {"measures": ["emd"], "gap_mode": "linear", "reference": ZOO_REFERENCE},
        "inversion": {
            "n_images": 2,
            "n_ood": 1,
            "max_iters": 20,
            "window": 10,
            "feature_vis": {"iterations": 5},
            "manipulation": {"images": 1, "steps": 5},
        },
        "imported": [entry],
    }
    (tmp_path / "zoo.yaml").write_text(yaml.safe_dump(overlay))
    result = snakemake(tmp_path, overlays=(tmp_path / "zoo.yaml",))
    assert result.returncode == 0, result.stderr[-3000:]
    model_dir = tmp_path / "results/pretrain/rb/rice2020overfitting/pgd-eps0.5-seed0"
    model, meta = load_model(model_dir / "model.pt")
    assert meta["zoo"]["name"] == "Rice2020Overfitting" and meta["image_size"] == 32
    robustness = pd.read_csv(tmp_path / "results/tables/pretrain_robustness.csv")
    zoo_rows = robustness[robustness["source"] == "rb"]
    assert sorted(zoo_rows["leaderboard"].dropna()) == [67.68, 88.67] and not zoo_rows["leaderboard_flag"].any()
    assert "not compared: measured on 20 of" in (tmp_path / "results/tables/pretrain_robustness.md").read_text()
    inversion = pd.read_csv(tmp_path / "results/tables/inversion.csv")
    assert inversion[inversion["source"] == "rb"]["fake_relu"].all()
    transfer = pd.read_csv(tmp_path / "results/tables/transfer.csv")
    assert set(transfer[transfer["source"] == "rb"]["mode"]) == {"linear", "finetune0"}
    info = yaml.safe_load((model_dir / "information.json").read_text())
    assert info["fisher"]["trace_per_image"] and "mean_logvar" in info
    distance = pd.read_csv(tmp_path / "results/tables/distance.csv")
    assert distance[["source", "target"]].values.tolist() == [["rb", "letters"]]
    assert (tmp_path / "results/report/overview.rst").exists()


def test_the_zoo_config_plans_the_whole_dag_without_pretraining(tmp_path):
    """config/zoo.yaml dry-runs without any file present: five zoo networks, every stage, no grid."""
    result = snakemake(tmp_path, "-n", config=ROOT / "config" / "zoo.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    jobs = planned_jobs(result)
    assert "pretrain" not in jobs and jobs["import_model"] == 5 and jobs["evaluate_robustness"] == 5
    assert jobs["transfer"] == 5 * 6 and jobs["invert"] == 5 and jobs["weight_posterior"] == 5
    assert jobs["dataset_distance"] == 1 and "method_comparison" not in jobs and "mi_vulnerability" not in jobs
