"""Every job that measures part of a split takes it by class: run on a dataset stored class by
class (as image folders are cached), each subset holds every class a prefix would miss, and
two models get the same images."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from conftest import script_main

import advinfo.datasets.images
import advinfo.information.inversion_job
import advinfo.transfer.transfer_job
from advinfo.datasets.images import model_inputs, save_dataset
from advinfo.information.posterior import save_posterior
from advinfo.nets.checkpoint import save_model, weights_hash
from advinfo.nets.features import SPLITS, write_features

WILDCARDS = SimpleNamespace(
    source="digits", arch="resnet_mini", method="standard", eps="0", seed="0", target="digits", dataset="digits"
)
PROBE = {"penalties": [0.01], "val_fraction": 0.2, "max_iter": 50, "tol": 1e-4}
INVERSION = {
    "n_images": 10,
    "n_ood": 0,
    "sigma": 0.05,
    "step_size": 0.25,
    "max_iters": 3,
    "window": 2,
    "tol": 0.01,
    "loss_threshold": 0.1,
    "feature_vis": {"coordinates": 2, "iterations": 2},
    "manipulation": {"images": 2, "coordinates": 1, "eps": 1.0, "steps": 2},
}
ATTACK = {"name": "pgd", "norm": "l2", "steps": 1, "iterations": 1, "square_queries": 1}
MASKING = {
    "n_test": 16,
    "large_eps": 5.0,
    "steps_factor": 2,
    "restarts": 1,
    "square_queries": 2,
    "tolerance": 1.0,
    "near_zero": 5.0,
}
JOBS = {  # script: (params, the subsets it takes as (split, images))
    "evaluate_robustness": (
        {
            "epsilons": [0.5],
            "attack": ATTACK,
            "n_test": 20,
            "masking": {**MASKING, "n_test": 16},
            "masking_eps": 0.5,
        },
        [("test", 20), ("test", 16)],
    ),
    "fisher_input": (
        {
            "options": {
                "n_images": 10,
                "probes": 2,
                "power_iters": 1,
                "check_epsilons": [0.05],
                "check_steps": 1,
                "directions": 1,
            }
        },
        [("test", 10)],
    ),
    "tsne": ({"n_images": 20, "perplexity": 5}, [("test", 20)]),
    "mi_vulnerability": (
        {
            "options": {
                "n_images": 40,
                "critic_steps": 5,
                "critic_patience": 4,
                "critic_tol": 0.01,
                "batch_size": 16,
                "lr": 1e-3,
                "folds": 2,
                "attack_steps": 1,
                "rounds": 1,
            },
            "radii": [0.5],
            "norm": "l2",
        },
        [("train", 40)],
    ),
    "invert": ({"options": INVERSION, "ood": None}, [("test", 10)]),
    # the features (all images) and the probe; no fine-tuning, whose monitor has a test of its own
    "transfer": (
        {
            "probe": PROBE,
            "attack": {"epsilons": [0.5], "n_test": 20, "spec": ATTACK},
            "n_train": None,
            "batch_size": 64,
            "stages": [],
            "head_init": "probe",
            "train": {},
            "monitor_size": 20,
            "resume_dir": ".",
        },
        [("test", 20)],
    ),
    "task2vec_embedding": (
        {"probe": PROBE, "task2vec": {"n_images": 30, "batch_size": 16}, "reference": "digits", "seed": 0},
        [("train", 30)],
    ),
}


@pytest.fixture(scope="module")
def sorted_run(tmp_path_factory, trained_digits_model, digits):
    """A model file and the digits cache re-stored class by class."""
    root = tmp_path_factory.mktemp("sorted")
    model, _, meta = trained_digits_model
    save_model(model, {**meta, "weights_sha256": weights_hash(model)}, root / "model.pt")
    order_train, order_test = torch.argsort(digits.y_train, stable=True), torch.argsort(digits.y_test, stable=True)
    by_class = type(digits)(
        digits.name,
        digits.x_train[order_train],
        digits.y_train[order_train],
        digits.x_test[order_test],
        digits.y_test[order_test],
        digits.classes,
    )
    save_dataset(by_class, root / "digits.npz")
    save_posterior({k: torch.full_like(v, -8.0) for k, v in model.named_parameters()}, {}, root / "posterior.h5")
    splits = {s: model_inputs(by_class, s, 8, torch.device("cpu")) for s in SPLITS}
    attrs = {
        "source": "digits",
        "arch": "resnet_mini",
        "method": "standard",
        "eps": 0.0,
        "seed": 0,
        "target": "digits",
        "num_classes": 10,
        "weights_sha256": weights_hash(model),
        "advinfo_version": "test",
    }
    write_features(root / "features.h5", model, splits, attrs, progress=False)
    return root


@pytest.mark.parametrize("script", list(JOBS))
def test_each_job_measures_every_class_of_a_class_sorted_split(script, sorted_run, monkeypatch):
    taken = []
    original = advinfo.datasets.images.model_inputs

    def spy(ds, split, *args, **kwargs):
        x, y = original(ds, split, *args, **kwargs)
        taken.append((split, y.clone()))
        return x, y

    for module in (advinfo.datasets.images, advinfo.information.inversion_job, advinfo.transfer.transfer_job):
        monkeypatch.setattr(module, "model_inputs", spy)  # the scripts' and the job functions' own name
    params, expected = JOBS[script]
    files = {
        "model": str(sorted_run / "model.pt"),
        "dataset": str(sorted_run / "digits.npz"),
        "source": str(sorted_run / "digits.npz"),
        "posterior": str(sorted_run / "posterior.h5"),
        "features": str(sorted_run / "features.h5"),
    }
    out = sorted_run / script
    smk = SimpleNamespace(
        input=SimpleNamespace(**files),
        params=SimpleNamespace(**params, sample_seed=0),
        output=SimpleNamespace(
            json=str(out / "out.json"),
            masking=str(out / "masking.json"),
            csv=str(out / "out.csv"),
            h5=str(out / "out.h5"),
            head=str(out / "head.pt"),
            features=str(out / "features.h5"),
            linear=str(out / "linear.json"),
            embedding=str(out / "embedding.h5"),
            finetune=[],
        ),
        wildcards=WILDCARDS,
        threads=1,
    )
    runs = []
    for _ in range(2):  # a second model gets the same images
        taken.clear()
        script_main(script)(smk)
        runs.append(list(taken))
    assert [(split, len(y)) for split, y in runs[0]] == expected
    for split, labels in runs[0]:
        assert set(labels.tolist()) == set(range(10)), f"{script}: {split} subset holds {sorted(set(labels.tolist()))}"
    for (_, a), (_, b) in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_training_monitors_every_class(digits, monkeypatch):
    """The held-out images scored after each epoch of pretraining and fine-tuning."""
    import advinfo.training.pretrain
    import advinfo.transfer.finetune
    from advinfo.plan.hyperparameters import TrainConfig

    order = torch.argsort(digits.y_test, stable=True)
    by_class = type(digits)(**{**vars(digits), "x_test": digits.x_test[order], "y_test": digits.y_test[order]})
    monitored = []

    def spy(ds, split, *args, **kwargs):
        x, y = model_inputs(ds, split, *args, **kwargs)
        if split == "test":
            monitored.append(set(y.tolist()))
        return x, y

    for module in (advinfo.training.pretrain, advinfo.transfer.finetune):
        monkeypatch.setattr(module, "model_inputs", spy)
    cfg = TrainConfig.from_schema(epochs=1, batch_size=256)
    model, _, _ = advinfo.training.pretrain.pretrain(
        by_class,
        "resnet_mini",
        cfg,
        8,
        width=4,
        monitor_size=20,
        device=torch.device("cpu"),
        progress=False,
        sample_seed=0,
    )
    advinfo.transfer.finetune.finetune(
        model, by_class, 1, cfg, 8, monitor_size=20, device=torch.device("cpu"), progress=False, sample_seed=0
    )
    assert monitored == [set(range(10))] * 2
