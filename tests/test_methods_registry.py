"""A training method is one file in training/methods: the registry, the plan's torch-free view,
the schema, the comparison order and the code dependencies all agree with the files, and a new
file with its schema keys is a method the whole library knows."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from dataclasses import fields, replace

import pytest
import yaml
from conftest import ROOT

from advinfo.plan.codedeps import method_modules
from advinfo.plan.hyperparameters import TrainConfig, train_keys
from advinfo.plan.methods import label_free, method_facts, method_names, schema_methods
from advinfo.plan.schema import load_schema
from advinfo.training.methods import METHODS


def test_the_registry_and_the_plan_read_the_same_files():
    assert list(METHODS) == method_names() == ["standard", *schema_methods()]
    for name, cls in METHODS.items():
        fact = method_facts()[name]
        assert (cls.needs_labels, cls.hyperparameters) == (fact.needs_labels, fact.hyperparameters), name
        assert cls.stage_hyperparameters == fact.stage_hyperparameters and set(cls.stage_hyperparameters) <= set(
            cls.hyperparameters
        ), name
    assert label_free() == {name for name, cls in METHODS.items() if not cls.needs_labels} == {"wcmi"}


def test_the_schema_names_the_registry_methods():
    props = load_schema()["properties"]
    assert props["distance"]["properties"]["reference"]["properties"]["method"]["enum"] == method_names()
    imported = props["imported"]["items"]["properties"]["method"]["enum"]
    assert set(imported) <= {name for name, cls in METHODS.items() if cls.needs_labels} - {"standard"}


def test_each_hyperparameter_reaches_only_its_method():
    pretrain = load_schema()["properties"]["pretrain"]["properties"]
    shared = {f.name for f in fields(TrainConfig)} - {"method", "eps", "seed", "options"}
    for name, cls in METHODS.items():
        assert all("default" in pretrain[key] for key in cls.hyperparameters), name
        assert train_keys(name) == [*[k for k in train_keys("standard")], *cls.hyperparameters] and shared <= set(
            train_keys(name)
        )
        eps = 0.0 if name == "standard" else 0.5
        assert set(TrainConfig.from_schema(method=name, eps=eps).options) == set(cls.hyperparameters)
    with pytest.raises(ValueError, match="takes the hyperparameters"):
        replace(TrainConfig.from_schema(method="trades", eps=0.5), options={})


TOY = '''
"""A toy method: PGD training whose loss is scaled (a test's new method)."""

from advinfo.training.methods.base import CrossEntropy
from advinfo.training.methods.pgd import PGDTraining


class ScaledLoss(CrossEntropy):
    def __init__(self, model, scale):
        super().__init__(model)
        self.scale = scale

    def forward(self, x, x_adv, y):
        loss, logits = super().forward(x, x_adv, y)
        return self.scale * loss, logits


class Toy(PGDTraining):
    name = "toy"
    needs_labels = False
    hyperparameters = ("toy_scale",)

    def __init__(self, net, cfg, input_shape):
        super().__init__(net, cfg, input_shape)
        self.loss = ScaledLoss(net, cfg.options["toy_scale"])
'''

PROBE = """
import torch
from advinfo.nets.models import Normalize, resnet_mini
from advinfo.plan.codedeps import other_methods
from advinfo.plan.hyperparameters import TrainConfig, train_keys
from advinfo.plan.methods import label_free, method_names
from advinfo.report.tables.comparison import method_names as order
from advinfo.training.loop import Trainer
from advinfo.training.methods import METHODS

torch.manual_seed(0)
net = resnet_mini(3, Normalize([0.5] * 3, [0.25] * 3), width=4)
cfg = TrainConfig.from_schema(method="toy", eps=0.5, epochs=1, batch_size=8, crop_padding=0, attack_steps=1)
images = (torch.rand(8, 3, 8, 8) * 255).to(torch.uint8)
Trainer(net, cfg, steps_per_epoch=1).train_epoch(images, torch.arange(8) % 3, 0, progress=False)
print(METHODS["toy"].__name__, method_names()[-1], order()[-1], sorted(label_free()), not cfg.supervised,
      "training.methods.toy" in other_methods("pgd"), "training.methods.toy" not in other_methods("toy"),
      cfg.options, "toy_scale" in train_keys("toy"), "toy_scale" not in train_keys("pgd"))
"""


def test_a_new_method_is_one_file_and_its_schema_keys(tmp_path):
    """In a copy of the library: add training/methods/toy.py and ``toy`` to the schema's enum, and
    the registry, the plan, the comparison order and the code dependencies know it, and it trains."""
    shutil.copytree(
        ROOT / "src" / "advinfo", tmp_path / "src" / "advinfo", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "src" / "advinfo" / "training" / "methods" / "toy.py").write_text(textwrap.dedent(TOY))
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    pretrain = schema["properties"]["pretrain"]["properties"]
    pretrain["methods"]["items"]["enum"].append("toy")
    pretrain["toy_scale"] = {"type": "number", "default": 0.5, "description": "the toy's loss scale"}
    (tmp_path / "workflow" / "schemas").mkdir(parents=True)
    (tmp_path / "workflow" / "schemas" / "config.schema.yaml").write_text(yaml.safe_dump(schema))
    env = {"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["Toy", "toy", "toy", "['toy',", "'wcmi']", "True", "True", "True"] + [
        "{'toy_scale':",
        "0.5}",
        "True",
        "True",
    ]


def test_a_method_file_the_schema_does_not_list_is_an_error(tmp_path):
    shutil.copytree(
        ROOT / "src" / "advinfo", tmp_path / "src" / "advinfo", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "src" / "advinfo" / "training" / "methods" / "toy.py").write_text(textwrap.dedent(TOY))
    shutil.copytree(ROOT / "workflow" / "schemas", tmp_path / "workflow" / "schemas")
    code = "from advinfo.plan.methods import method_names; method_names()"
    env = {"PYTHONPATH": str(tmp_path / "src"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode != 0 and "add a new method's name to the enum" in out.stderr
    assert method_modules()["pgd"] == "training.methods.pgd"
