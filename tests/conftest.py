"""Shared fixtures: paths of the repository and a small network trained once per session."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from torchvision.models import resnet18

from advinfo.datasets.builders import BuildOptions, build_dataset
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.loop import Trainer
from advinfo.training.pretrain import pretrain

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
TINY = ROOT / ".test" / "config.yaml"


def with_change(config: dict, path: str, value) -> dict:
    """A deep copy of ``config`` with ``value`` at dotted ``path`` (created if missing)."""
    out = copy.deepcopy(config)
    node = out
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return out


def snakemake(
    workdir: Path,
    *args: str,
    config: Path = TINY,
    snakefile: Path = ROOT / "Snakefile",
    overlays: tuple[Path, ...] = (),
    **kwargs,
) -> subprocess.Popen | subprocess.CompletedProcess:
    """Snakemake on the tiny config (then ``overlays``) in ``workdir`` (2 cores); ``background=True``
    returns the process."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        *map(str, overlays),
        "--cores",
        "2",
        *args,
    ]
    if kwargs.pop("background", False):
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kwargs.pop("timeout", 900), **kwargs)


def planned_jobs(dry_run: subprocess.CompletedProcess) -> dict[str, int]:
    """{rule: count} from the "Job stats" table of a dry run."""
    text = dry_run.stdout + dry_run.stderr
    assert "Job stats:" in text, text[-2000:]
    table = text.split("Job stats:", 1)[1].splitlines()[3:]
    jobs = {}
    for line in table:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def copy_checkout(dest: Path) -> Path:
    """A copy of the workflow and its library, so a test can edit scripts without touching the repository."""
    dest.mkdir(parents=True)
    for name in ("Snakefile", "profiles", "workflow", "src", "config", "envs"):
        source = ROOT / name
        if source.is_symlink() or source.is_file():
            shutil.copy2(source, dest / name, follow_symlinks=False)
        else:
            shutil.copytree(source, dest / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def script_main(name: str) -> Callable:
    """The ``main(smk)`` of job script ``workflow/scripts/{name}.py``, to call with a stand-in for
    Snakemake's ``snakemake`` object (a ``SimpleNamespace`` of input, output, params, ...)."""
    spec = importlib.util.spec_from_file_location(f"job_{name}", ROOT / "workflow" / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def add_imported_model(checkout: Path) -> Path:
    """Write a robustness-library checkpoint of a random ImageNet-stem ResNet-18 (10 classes) into
    ``checkout`` and a config overlay that imports it; returns the overlay. The hash is pinned here,
    after writing, so the overlay holds whatever bytes this torch version writes."""
    from advinfo.nets.imported import file_sha256

    torch.manual_seed(0)
    net = resnet18(num_classes=10)
    state = {f"module.model.{k}": v for k, v in net.state_dict().items()}
    state |= {
        "module.normalizer.new_mean": torch.full((3, 1, 1), 0.5),
        "module.normalizer.new_std": torch.full((3, 1, 1), 0.25),
    }
    path = checkout / "resources" / "imported" / "robust_resnet18.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "epoch": 3}, path)
    entry = {
        "source": "imnet",
        "arch": "resnet18_imagenet",
        "eps": 1.0,
        "path": str(path.relative_to(checkout)),
        "sha256": file_sha256(path),
        "format": "robustness",
        "image_size": 16,
        "images": "digits",
    }
    overlay = checkout / "imported.yaml"
    overlay.write_text(yaml.safe_dump({"imported": [entry]}))
    return overlay


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A checkout where the tiny config, plus one imported robust ResNet-18, ran to completion
    locally, shared by the tests that only read it."""
    checkout = copy_checkout(tmp_path_factory.mktemp("tiny") / "checkout")
    overlay = add_imported_model(checkout)
    result = snakemake(checkout, snakefile=checkout / "Snakefile", overlays=(overlay,))
    assert result.returncode == 0, result.stderr[-3000:]
    return checkout


@pytest.fixture(scope="session")
def default_config() -> dict:
    with open(ROOT / "config" / "config.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="session")
def digits():
    return build_dataset("digits", BuildOptions.from_schema(seed=0))


@pytest.fixture(scope="session")
def trained_digits_model(digits):
    """A resnet_mini trained (standard) on 8x8 digits for a few epochs: ~90% test accuracy."""
    torch.set_num_threads(1)
    cfg = TrainConfig.from_schema(epochs=4, batch_size=64, lr=0.1, crop_padding=1, seed=0)
    model, history, meta = pretrain(
        digits,
        "resnet_mini",
        cfg,
        image_size=8,
        width=8,
        monitor_size=100,
        device=torch.device("cpu"),
        progress=False,
        sample_seed=0,
    )
    return model.eval(), history, meta


def pretrain_digits(ds, cfg: TrainConfig, **changes) -> tuple:
    """``pretrain`` of a width-4 resnet_mini on 8 px digits-like data on one CPU thread, the small
    run the training tests share (``changes`` override its options)."""
    torch.set_num_threads(1)
    options = {
        "image_size": 8,
        "width": 4,
        "monitor_size": 60,
        "device": torch.device("cpu"),
        "progress": False,
        "sample_seed": 0,
        "head_probe": {"penalties": [0.01]},
    }
    return pretrain(ds, "resnet_mini", cfg, **(options | changes))


def crash_at_epoch(monkeypatch: pytest.MonkeyPatch, epoch: int) -> Callable[[], None]:
    """Make training raise KeyboardInterrupt (a stand-in for a kill) when it starts ``epoch``
    (0-based); returns a function that undoes it."""
    original = Trainer.train_epoch

    def crash(self, images, labels, current, progress=True):
        if current == epoch:
            raise KeyboardInterrupt("simulated kill")
        return original(self, images, labels, current, progress)

    monkeypatch.setattr(Trainer, "train_epoch", crash)
    return lambda: monkeypatch.setattr(Trainer, "train_epoch", original)
