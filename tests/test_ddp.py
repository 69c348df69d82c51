"""Data-parallel pretraining: two gloo processes on the CPU against one process."""

from pathlib import Path

import pytest
import torch
from torch import nn

from advinfo.datasets.builders import build_dataset
from advinfo.datasets.images import save_dataset
from advinfo.distributed import launch, world
from advinfo.nets.checkpoint import load_model
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.loop import train
from advinfo.training.pretrain import PretrainJob, run_pretrain_job


def batchnorm_free_net() -> nn.Module:
    """Without BatchNorm a data-parallel step is exactly the single-process step (per-process
    batch statistics are the one thing that differs on CPUs)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(4), nn.Flatten(), nn.Linear(32, 4))


def data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=gen)
    return x, torch.randint(0, 4, (64,), generator=gen)


def train_and_save(device: torch.device, out: str, cfg: TrainConfig) -> None:
    """Module level, so spawned processes can import it."""
    torch.set_num_threads(1)
    model = batchnorm_free_net().to(device)
    x, y = data()
    train(model, cfg, (x, y), (x[:16], y[:16]), progress=False)
    if world()[0] == 0:
        torch.save(model.state_dict(), out)


@pytest.mark.parametrize("method, eps", [("standard", 0.0), ("pgd", 0.5)])
def test_two_gloo_processes_take_the_single_process_steps(tmp_path, method, eps):
    cfg = TrainConfig.from_schema(
        method=method,
        eps=eps,
        attack_steps=2,
        random_start=False,
        epochs=2,
        batch_size=16,
        lr=0.05,
        crop_padding=1,
        monitor_steps=1,
        seed=3,
    )
    train_and_save(torch.device("cpu"), str(tmp_path / "one.pt"), cfg)
    launch(train_and_save, ["cpu", "cpu"], str(tmp_path / "two.pt"), cfg)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    start = batchnorm_free_net().state_dict()
    for key in one:
        assert not torch.allclose(one[key], start[key]), f"{key} did not train"
        torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=key)


def test_data_parallel_pretraining_job_saves_one_model(tmp_path):
    save_dataset(build_dataset("digits"), tmp_path / "digits.npz")
    cfg = TrainConfig.from_schema(method="pgd", eps=0.5, attack_steps=1, epochs=1, batch_size=64, monitor_steps=1)
    job = PretrainJob(
        dataset=str(tmp_path / "digits.npz"),
        arch="resnet_mini",
        cfg=cfg,
        image_size=8,
        width=4,
        monitor_size=50,
        sample_seed=0,
        head_probe=None,
        resume=str(tmp_path / "resume.pt"),
        model_out=str(tmp_path / "model.pt"),
        metrics_out=str(tmp_path / "metrics.csv"),
        log_file=str(tmp_path / "job.log"),
    )
    launch(run_pretrain_job, ["cpu", "cpu"], job)
    model, meta = load_model(tmp_path / "model.pt")
    assert meta["processes"] == 2 and meta["num_classes"] == 10
    assert "epoch 1/1" in Path(tmp_path / "job.log").read_text()
    assert (tmp_path / "metrics.csv").read_text().count("\n") == 2


def odd_batch(device: torch.device, cfg: TrainConfig) -> None:
    x, y = data()
    train(batchnorm_free_net(), cfg, (x[:30], y[:30]), (x[:8], y[:8]), progress=False)


def test_a_batch_that_does_not_split_is_a_clear_error():
    cfg = TrainConfig.from_schema(epochs=1, batch_size=15)
    with pytest.raises(Exception, match="pretrain.batch_size 15 does not split over 2 processes"):
        launch(odd_batch, ["cpu", "cpu"], cfg)
