"""Configs that would fail inside a job are refused while the workflow is parsed, one line per
problem naming the key, the value and what is expected; valid configs pass."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, SCHEMA
from snakemake.utils import validate

from advinfo.datasets.synthetic import LETTER_CLASSES, NUMERAL_CLASSES, SHAPE_CLASSES, TEXTURE_CLASSES
from advinfo.plan.catalog import FIXED_FACTS, GENERATED_CLASSES, dataset_facts, folder_counts
from advinfo.plan.checks import ConfigError, expand_user_paths
from advinfo.plan.preflight import check_feasibility

TINY = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())


def filled(config: dict, **changes) -> dict:
    """``config`` with dotted-key ``changes``, defaults filled by the schema as the workflow does."""
    out = copy.deepcopy(config)
    for path, value in changes.items():
        node = out
        *parents, last = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    validate(out, str(SCHEMA))
    return out


def problems(config: dict) -> list[str]:
    try:
        check_feasibility(config)
    except ConfigError as err:
        return [line[4:] for line in str(err).splitlines()[1:]]
    return []


@pytest.mark.parametrize("name", ["default", "tiny", "paper"])
def test_shipped_configs_pass(name, default_config):
    config = {
        "default": default_config,
        "tiny": TINY,
        "paper": yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()),
    }[name]
    assert problems(filled(config)) == []


REFUSED = [
    # (changes to the tiny config, fragments of the one problem line)
    (
        {"transfer__probe__val_fraction": 0.05, "transfer__n_train": None},
        [
            "'transfer.probe.val_fraction': 0.05 holds out 10 of the 200 training images of 'letters'",
            "fewer than its 26 classes",
            "expected at least 0.13 (or a larger data.n_train)",
        ],
    ),
    (
        {"transfer__probe__val_fraction": 0.9, "transfer__n_train": None},
        [
            "'transfer.probe.val_fraction': 0.9 leaves 20 of the 200 training images of 'letters' to fit",
            "expected at most 0.87",
        ],
    ),
    (
        {"data__n_train": 40},
        ["'data.n_train': 40 gives 'letters' (26 classes) 1 training image in a class", "expected at least 52"],
    ),
    (
        {"transfer__n_train": 104},
        [
            "'transfer.probe.val_fraction': 0.2 holds out 21 of the 104 training images of 'letters'",
            "expected at least 0.25 (or a larger transfer.n_train)",
        ],
    ),
    (
        {"transfer__n_train": 30},
        ["'transfer.n_train': 30 gives 'letters' (26 classes) 1 training image in a class", "expected at least 52"],
    ),
    (
        {"pretrain__arat_layer": 3},
        ["'pretrain.arat_layer': 3 is not a stage of resnet_mini (3 stages)", "expected an integer from -3 to 2"],
    ),
    (
        {"pretrain__gpus": 3},
        ["'pretrain.batch_size': 128 does not split over pretrain.gpus = 3 processes", "expected a multiple of 3"],
    ),
    (
        {"pretrain__gpus": 2, "pretrain__batch_size": 2},
        ["'pretrain.batch_size': 2 gives each of the 2 processes 1 image", "expected at least 4"],
    ),
    (
        {"information__tsne__perplexity": 40},
        ["'information.tsne.perplexity': 40 is not below the 40 test images of 'digits'", "expected less than 40"],
    ),
    (
        {"information__mutual_info__folds": 40},
        ["'information.mutual_info.folds': 40 folds of the 60 image pairs of 'digits' hold fewer than 2 pairs each"],
    ),
    (
        {"archs": ["resnet50"], "model__width": 8},
        ["'model.width': 8 does not apply to resnet50", "expected null, or archs among resnet_mini, resnet18"],
    ),
]


@pytest.mark.parametrize("changes,fragments", REFUSED, ids=[",".join(c) for c, _ in REFUSED])
def test_each_problem_is_one_line_naming_the_key(changes, fragments):
    found = problems(filled(TINY, **changes))
    assert len(found) == 1, found
    for fragment in fragments:
        assert fragment in found[0], f"{fragment!r} missing from {found[0]!r}"


def test_every_problem_is_reported_at_once():
    found = problems(filled(TINY, data__n_train=40, pretrain__arat_layer=-4, pretrain__gpus=3))
    assert [p.split("'")[1] for p in found] == ["data.n_train", "pretrain.arat_layer", "pretrain.batch_size"]


def test_checks_follow_what_runs():
    # no wcmi, no arat, and the only target is the source: nothing is probed, no layer is aligned
    quiet = filled(
        TINY, pretrain__methods=["pgd"], targets=["digits"], pretrain__arat_layer=7, transfer__probe__val_fraction=0.001
    )
    assert problems(quiet) == []
    # the wcmi head is a probe on the source: digits' 1,437 images need 10 held out
    wcmi = problems(filled(TINY, targets=[], transfer__probe__val_fraction=0.005))
    assert len(wcmi) == 1 and "of 'digits' for the linear head of its wcmi encoders" in wcmi[0]


def _folder(root: Path, train: dict[str, int], test: dict[str, int]) -> Path:
    for split, classes in (("train", train), ("test", test)):
        for name, n in classes.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                (root / split / name / f"{i}.png").write_bytes(b"")
    (root / "train" / next(iter(train)) / "notes.txt").write_text("not an image")
    return root


def test_image_folders_are_counted_when_they_exist(tmp_path):
    ok = _folder(tmp_path / "ok", {"a": 3, "b": 5}, {"a": 1, "b": 1})
    assert folder_counts(ok) == {"train": {"a": 3, "b": 5}, "test": {"a": 1, "b": 1}}
    data = {"folders": {"ok": str(ok)}, "n_train": 0, "n_test": 0}
    facts = dataset_facts("ok", data)
    assert (facts.classes, facts.n_train, facts.train_smallest, facts.n_test) == (2, 8, 3, 2)
    assert dataset_facts("later", {**data, "folders": {"later": str(tmp_path / "nowhere")}}) is None

    lone = _folder(tmp_path / "lone", {"a": 9, "b": 1}, {"a": 1, "b": 1})
    odd = _folder(tmp_path / "odd", {"a": 4, "b": 4}, {"a": 1, "c": 1})
    empty = _folder(tmp_path / "empty", {"a": 4, "b": 0}, {"a": 1, "b": 1})
    folders = {"lone": str(lone), "odd": str(odd), "empty": str(empty), "later": str(tmp_path / "nowhere")}
    config = filled(TINY, data__folders=folders, targets=["lone", "later"], pretrain__methods=["pgd"])
    config["evaluate"]["attack"] = "apgd-ce"  # AutoAttack's class count is the next test's
    found = problems(config)  # the folder that is not there yet is left to its prepare_dataset job
    assert len(found) == 3, found
    assert f"'data.folders.odd': {odd}: class folders b, c are in only one of train/ and test/" in found[0]
    assert f"'data.folders.empty': {empty}: train/b holds no image" in found[1]
    assert "'data.folders.lone': train/b holds 1 image — expected at least 2 per class" in found[2]


def test_autoattack_needs_four_classes_in_every_attacked_dataset(tmp_path):
    three = _folder(tmp_path / "three", {"a": 4, "b": 4, "c": 4}, {"a": 2, "b": 2, "c": 2})
    config = filled(TINY, data__folders={"three": str(three)}, targets=["three"], pretrain__methods=["pgd"])
    assert config["evaluate"]["attack"] == "autoattack"
    found = problems(config)
    assert found == [
        "config key 'evaluate.attack': autoattack needs 4 classes or more, 'three' has 3 — expected apgd-ce "
        "or pgd for it"
    ]
    config["evaluate"]["attack"] = "apgd-ce"
    assert problems(config) == []


def test_known_sizes_match_the_datasets():
    from advinfo.datasets.builders import BuildOptions, build_dataset

    for name in ("digits", "mnist5k"):
        ds = build_dataset(name, BuildOptions.from_schema(seed=0))
        counts = np.bincount(ds.y_train.numpy())
        assert FIXED_FACTS[name] == type(FIXED_FACTS[name])(
            ds.num_classes, len(ds.y_train), counts.min(), len(ds.y_test)
        )
    assert GENERATED_CLASSES == {
        "shapes": len(SHAPE_CLASSES),
        "letters": len(LETTER_CLASSES),
        "numerals": len(NUMERAL_CLASSES),
        "textures": len(TEXTURE_CLASSES),
    }


def test_home_folders_are_expanded(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    entry = {
        "source": "imagenet",
        "arch": "resnet50_imagenet",
        "eps": 3,
        "path": "~/ckpt/robust.pt",
        "sha256": "a" * 64,
        "format": "robustness",
        "images": "digits",
    }
    config = filled({}, data__root="~/datasets", data__folders={"birds": "~/cub"}, imported=[entry])
    expand_user_paths(config)
    assert config["data"]["root"] == "/home/someone/datasets" and config["data"]["raw_root"] is None
    assert config["data"]["folders"] == {"birds": "/home/someone/cub"}
    assert config["imported"][0]["path"] == "/home/someone/ckpt/robust.pt"
    relative = filled({}, data__root="resources/datasets")
    expand_user_paths(relative)
    assert relative["data"]["root"] == "resources/datasets"  # relative to Snakemake's --directory
