"""The fast training step (one CUDA graph per step on a GPU) computes the eager step's training,
never waits on the host inside the step, and still stops a diverging run naming its step."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from conftest import crash_at_epoch, pretrain_digits

import advinfo.training.loop as train_module
from advinfo.errors import DivergenceError
from advinfo.graphed import Graphed, OpCounter
from advinfo.nets.models import build_model
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.loop import EAGER, Accel, Trainer

FAST = Accel(channels_last=False, compile=False, graph=True)
METHODS = [("standard", 0.0), ("pgd", 0.5), ("trades", 0.5), ("arat", 0.5), ("wcmi", 0.5)]


def _data(n: int = 96, size: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    images[:, labels % 3, : size // 2] //= 3  # a class signal, so that training moves the weights
    return images, labels


def _trainers(method: str, eps: float, steps: int, **changes) -> tuple[Trainer, Trainer]:
    """An eager and a fast trainer of the same network, from the same initial weights."""
    cfg = TrainConfig.from_schema(method=method, eps=eps, attack_steps=2, batch_size=32, epochs=2, **changes)
    model = build_model("resnet_mini", 4, width=4)
    trainers = []
    for accel in (EAGER, FAST):
        torch.manual_seed(0)  # AR-AT's predictor and worst-case MI's critic start alike too
        trainers.append(Trainer(copy.deepcopy(model), cfg, steps, accel, (3, 8, 8)))
    return tuple(trainers)


def _relative_gap(a: Trainer, b: Trainer) -> float:
    return max(
        float(((pa - pb).norm() / pa.norm().clamp_min(1e-12)).detach())
        for pa, pb in zip(a.step.parameters(), b.step.parameters(), strict=True)
    )


@pytest.mark.parametrize(("method", "eps"), METHODS)
def test_one_fast_step_is_the_eager_step(method, eps):
    """From the same weights, batch and random start, one step of each agrees to float
    tolerance (fused SGD with a tensor learning rate rounds differently, by an ulp)."""
    images, labels = _data(n=32)
    eager, fast = _trainers(method, eps, steps=1)
    before = [p.detach().clone() for p in eager.step.parameters()]
    rows = [t.train_epoch(images, labels, epoch=0, progress=False) for t in (eager, fast)]
    assert _relative_gap(eager, fast) < 1e-5
    moved = max(
        float(((p - q).norm() / q.norm()).detach()) for p, q in zip(eager.step.parameters(), before, strict=True)
    )
    assert moved > 1e-3  # the step changed the weights by far more than the tolerance
    assert rows[0]["train_loss"] == pytest.approx(rows[1]["train_loss"], rel=1e-6)
    assert rows[0]["train_acc"] == rows[1]["train_acc"] or math.isnan(rows[0]["train_acc"])


@pytest.mark.parametrize(("method", "eps"), [m for m in METHODS if m[0] != "trades"])
def test_fast_epochs_train_as_the_eager_ones(method, eps):
    """Two epochs of three steps, the schedule moving the learning rate every step. (TRADES
    is left to the one-step test: on a network this small its normalised KL gradient turns
    an ulp into a different attack, in the eager loop alone as well.)"""
    images, labels = _data()
    eager, fast = _trainers(method, eps, steps=3)
    for epoch in range(2):
        rows = [t.train_epoch(images, labels, epoch=epoch, progress=False) for t in (eager, fast)]
        assert rows[0]["train_loss"] == pytest.approx(rows[1]["train_loss"], rel=1e-4)
    assert _relative_gap(eager, fast) < 1e-4
    assert float(fast.optimizer.param_groups[0]["lr"]) == pytest.approx(eager.optimizer.param_groups[0]["lr"])


@pytest.mark.parametrize(("method", "eps"), METHODS)
def test_the_fast_step_never_waits_on_the_host(method, eps):
    """What a CUDA graph captures may not read a value on the host (capture fails on it);
    the eager loop reads three per step."""
    images, labels = _data(n=32)
    eager, fast = _trainers(method, eps, steps=1)
    x, y, start = fast.batch(images, labels, torch.arange(32), torch.Generator().manual_seed(0))
    with OpCounter() as counter:
        fast.fast_step(x, y, start)
    assert counter.syncs == []
    assert counter.ops > 100  # the whole step, attack included, ran inside
    with OpCounter() as counter:
        eager.train_epoch(images, labels, epoch=0, progress=False)
    assert len(counter.syncs) >= 2


def test_the_fast_loop_reads_the_device_every_check_only(monkeypatch):
    images, labels = _data(n=320)  # ten steps
    monkeypatch.setattr(train_module, "CHECK_EVERY", 4)
    _, fast = _trainers("pgd", 0.5, steps=10)
    with OpCounter() as counter:
        fast.train_epoch(images, labels, epoch=0, progress=False)
    # checks after steps 4 and 8 and at the end (one read each), then the loss and the count
    assert counter.syncs == ["_local_scalar_dense"] * 5


@pytest.mark.parametrize("accel", [EAGER, FAST], ids=["eager", "fast"])
def test_divergence_names_the_same_step_in_both_loops(digits, accel):
    cfg = TrainConfig.from_schema(epochs=3, batch_size=64, lr=1e30, momentum=0.0, nesterov=False)
    with pytest.raises(DivergenceError, match=r"non-finite training loss .* at epoch 1, step 2\b.*pretrain.lr"):
        pretrain_digits(digits, cfg, accel=accel)


def test_a_killed_fast_run_resumes_to_identical_weights(digits, tmp_path, monkeypatch):
    cfg = TrainConfig.from_schema(method="pgd", eps=0.5, attack_steps=1, epochs=3, batch_size=256)
    reference, ref_history, _ = pretrain_digits(digits, cfg, accel=FAST)
    resume = tmp_path / "resume.pt"
    undo = crash_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        pretrain_digits(digits, cfg, resume_path=resume, accel=FAST)
    undo()
    resumed, history, _ = pretrain_digits(digits, cfg, resume_path=resume, accel=FAST)
    for (k, va), vb in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert [r["train_loss"] for r in history] == [r["train_loss"] for r in ref_history]
    assert [r["lr"] for r in history] == [r["lr"] for r in ref_history]


def test_graphed_runs_every_call_once_off_the_gpu():
    calls = []
    graphed = Graphed(lambda x: (calls.append(1) or x * 2,))
    for _ in range(5):
        (out,) = graphed(torch.ones(3))
    assert len(calls) == 5 and torch.equal(out, torch.full((3,), 2.0))
    assert graphed.graphs == {}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_the_captured_step_is_the_eager_step_on_a_gpu():
    """On a GPU: steps 4 onwards are replays of a captured graph; they train as the eager loop."""
    images, labels = (t.cuda() for t in _data(n=32 * 8))
    cfg = TrainConfig.from_schema(method="pgd", eps=0.5, attack_steps=2, batch_size=32, epochs=1)
    model = build_model("resnet_mini", 4, width=4).cuda()
    eager = Trainer(model, cfg, 8, EAGER, (3, 8, 8))
    fast = Trainer(copy.deepcopy(model), cfg, 8, FAST, (3, 8, 8))
    rows = [t.train_epoch(images, labels, epoch=0, progress=False) for t in (eager, fast)]
    assert len(fast.graphed.graphs) == 1
    assert rows[0]["train_loss"] == pytest.approx(rows[1]["train_loss"], rel=1e-3)
    assert _relative_gap(eager, fast) < 1e-3
