"""The training loop of every method (:mod:`advinfo.training.methods`), resumable epoch by epoch.

Data stays on the device as uint8 and is augmented batch by batch (no DataLoader: the
datasets are small, and per-batch work on the device is what makes training fast).
All randomness of epoch e is drawn from a generator seeded by (seed, e), so a run that
is killed and resumed from its last finished epoch ends with the same weights as an
uninterrupted one.

Data-parallel training: when ``torch.distributed`` is initialised (``distributed.launch``),
every process draws the same batch and augmentation, keeps its contiguous share of the
batch, and DDP averages the gradients, so the step is the single-process step up to
BatchNorm statistics (per process on CPUs; synchronised on GPUs) and attack random starts.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from advinfo.datasets.images import to_unit
from advinfo.distributed import shard, world
from advinfo.errors import DivergenceError
from advinfo.fileio import save_tensors
from advinfo.graphed import Graphed
from advinfo.nets.models import weight_norm
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.robust.accuracy import accuracy
from advinfo.training.augment import augment, epoch_generator
from advinfo.training.methods import method_class
from advinfo.training.methods.base import training_attack
from advinfo.training.resume import fingerprint, load_resume
from advinfo.training.schedule import lr_lambda

log = logging.getLogger(__name__)
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]  # images, labels, attack start


@dataclass(frozen=True)
class Accel:
    """How training runs rather than what it computes (so not part of a run's identity)."""

    channels_last: bool  # NHWC memory layout: faster convolutions on tensor-core GPUs
    compile: bool  # torch.compile the network
    graph: bool = False  # the fast step: attack and update as one CUDA graph, no host sync per step


EAGER = Accel(channels_last=False, compile=False)  # plain eager PyTorch, the reference
CHECK_EVERY = 50  # steps between the fast step's reads of its losses, its one host synchronisation


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive batches of an epoch's ``n`` images. A last batch too small to give every
    process two images joins the one before: BatchNorm cannot train on one image per channel,
    and worst-case MI contrasts pairs."""
    minimum = 2 * world()[1]
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < minimum:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]


class Trainer:
    """Owns model, method, optimiser and schedule; runs epochs and checkpoints for resumption."""

    def __init__(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        steps_per_epoch: int,
        accel: Accel = EAGER,
        input_shape: tuple[int, ...] = (3, 32, 32),
    ) -> None:
        processes = world()[1]
        if cfg.batch_size % processes:
            raise ValueError(
                f"pretrain.batch_size {cfg.batch_size} does not split over {processes} processes; "
                f"use a multiple of pretrain.gpus"
            )
        self.model = model
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        method = method_class(cfg.method)
        method.prepare(model)
        if accel.channels_last:
            model.to(memory_format=torch.channels_last)
        self.channels_last = accel.channels_last
        net = torch.compile(model) if accel.compile else model  # attacks and the step share it
        self.method = method(net, cfg, input_shape)
        self.device = device = next(model.parameters()).device
        self.step = self.method.loss.to(device)
        if accel.graph and processes > 1:
            log.info("data-parallel training runs eagerly: the fast step is for one process")
        self.fast = accel.graph and processes == 1
        self.optimizer = torch.optim.SGD(
            self.step.parameters(),
            # the fast step's learning rate is a tensor, so that a captured step reads the schedule's
            # value and SGD, fused, needs no host synchronisation to apply it
            lr=torch.tensor(cfg.lr, device=device) if self.fast else cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
            fused=True if self.fast else None,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(cfg, steps_per_epoch))
        if processes > 1:
            self.step = DistributedDataParallel(self.step, device_ids=[device] if device.type == "cuda" else None)
        bf16 = cfg.precision == "bf16"
        # autocast's weight cache would hold casts made during capture: the fast step goes without it
        self.autocast = lambda: (
            torch.autocast(device.type, torch.bfloat16, cache_enabled=not self.fast) if bf16 else nullcontext()
        )
        self.graphed = Graphed(self.fast_step) if self.fast else None

    def batch_loss(
        self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(loss, logits whose accuracy is reported or None) of one training batch."""
        x = self.layout(x)
        return self.loss_of(x, y, self.method.draw(x, gen))

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def loss_of(
        self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(loss, reported logits or None) of a batch whose attack starts at ``start``."""
        with self.autocast():
            return self.step(x, self.method.adversarial(x, y, start), y)

    def fast_step(
        self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One whole training step, attack to update, with no host synchronisation (what
        :class:`Graphed` captures): (the loss, how many reported logits were right)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss, logits = self.loss_of(x, y, start)
        loss.backward()
        self.optimizer.step()
        hits = (logits.detach().argmax(1) == y).sum() if logits is not None else torch.zeros_like(y[0])
        return loss.detach(), hits

    def train_epoch(
        self, images: torch.Tensor, labels: torch.Tensor, epoch: int, progress: bool = True
    ) -> dict[str, float]:
        """One pass over the uint8 training images; returns the loss and the accuracy of the
        method's reported logits (NaN for a method that learns without labels)."""
        cfg, model, device = self.cfg, self.model, images.device
        gen = epoch_generator(cfg.seed, epoch, device)
        order = torch.randperm(len(images), generator=gen, device=device)
        self.method.start_epoch(model, images, labels)
        model.train()
        bar = tqdm(
            batch_slices(len(images), cfg.batch_size),
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            unit="batch",
            disable=not progress,
            mininterval=10,
            delay=5,
            leave=False,
        )
        batches = (self.batch(images, labels, order[part], gen) for part in bar)
        loss_sum, correct, seen = (self.fast_epoch if self.fast else self.eager_epoch)(batches, epoch)
        train_acc = 100.0 * correct / seen if cfg.supervised else math.nan
        return {"train_loss": loss_sum / seen, "train_acc": train_acc}

    def batch(self, images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, gen: torch.Generator) -> Batch:
        """(images, labels, attack start) of one step: augmentation, then the start, drawn from
        the epoch's generator in that order."""
        x = self.layout(shard(augment(to_unit(images[idx]), self.cfg.crop_padding, self.cfg.flip, gen)))
        return x, shard(labels[idx]), self.method.draw(x, gen)

    def eager_epoch(self, batches: Iterable[Batch], epoch: int) -> tuple[float, int, int]:
        """The reference loop: (loss sum, right predictions, images), checking every loss at once."""
        loss_sum, correct, seen = 0.0, 0, 0
        for step, (x, y, start) in enumerate(batches):
            loss, logits = self.loss_of(x, y, start)
            if not torch.isfinite(loss):
                raise self.diverged(loss.item(), epoch, step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.detach().argmax(1) == y).sum()) if logits is not None else 0
            seen += len(y)
        return loss_sum, correct, seen

    def fast_epoch(self, batches: Iterable[Batch], epoch: int) -> tuple[float, int, int]:
        """The same epoch by :meth:`fast_step` (one CUDA graph per step on a GPU), its losses
        and counts kept on the device and read every ``CHECK_EVERY`` steps: a diverging run
        stops then, naming its first non-finite step (nothing of the epoch is saved)."""
        losses: list[torch.Tensor] = []
        sizes: list[int] = []
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        for step, (x, y, start) in enumerate(batches):
            loss, hits = self.graphed(x, y, start)
            losses.append(loss.clone())  # the graph's output buffer is overwritten by the next step
            correct += hits
            sizes.append(len(y))
            self.scheduler.step()
            if (step + 1) % CHECK_EVERY == 0:
                self.check_finite(losses, step + 1 - CHECK_EVERY, epoch)
        self.check_finite(losses, len(losses) // CHECK_EVERY * CHECK_EVERY, epoch)
        loss_sum = float((torch.stack(losses).double() * torch.tensor(sizes, device=self.device)).sum())
        return loss_sum, int(correct), sum(sizes)

    def check_finite(self, losses: list[torch.Tensor], first: int, epoch: int) -> None:
        """Raise at the first non-finite loss among the epoch's ``losses[first:]``."""
        if first >= len(losses):
            return
        recent = torch.stack(losses[first:])
        bad = ~torch.isfinite(recent)
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            raise self.diverged(float(recent[index]), epoch, first + index)

    def diverged(self, loss: float, epoch: int, step: int) -> DivergenceError:
        return DivergenceError(
            f"non-finite training loss ({loss}) at epoch {epoch + 1}, step {step + 1}; "
            f"lower pretrain.lr (now {self.cfg.lr}) or check the data"
        )

    def state(self, epoch: int, history: list[dict[str, float]], fingerprint: str) -> dict[str, Any]:
        extra = self.method.extra
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "extra": extra.state_dict() if extra is not None else {},
            "history": history,
            "fingerprint": fingerprint,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.fast:  # a state saved by the eager loop holds the learning rate as a number
            for group in self.optimizer.param_groups:
                group["lr"] = torch.as_tensor(group["lr"], dtype=torch.float32, device=self.device).clone()
        self.scheduler.load_state_dict(state["scheduler"])
        if self.method.extra is not None:
            self.method.extra.load_state_dict(state["extra"])


def train(
    model: nn.Module,
    cfg: TrainConfig,
    train_set: tuple[torch.Tensor, torch.Tensor],
    monitor_set: tuple[torch.Tensor, torch.Tensor],
    resume_path: str | Path | None = None,
    run_id: dict[str, Any] | None = None,
    progress: bool = True,
    accel: Accel = EAGER,
) -> list[dict[str, float]]:
    """Train ``model`` in place; return one metrics row per epoch. The method's ``finish`` runs
    at the end (AR-AT merges its split BatchNorm back, so the model keeps its architecture).

    ``train_set`` and ``monitor_set`` are uint8 images (N, 3, H, W) and labels, already
    on the model's device. After every epoch the resume state is written atomically to
    ``resume_path`` (when given; by the first process under data parallelism); a later call
    with the same configuration continues from there. ``run_id`` adds identifying values
    (arch, data) to the fingerprint.
    """
    images, labels = train_set
    trainer = Trainer(model, cfg, len(batch_slices(len(images), cfg.batch_size)), accel, tuple(images.shape[1:]))
    first = world()[0] == 0
    resume_path = Path(resume_path) if resume_path is not None else None
    fp = fingerprint(cfg, {**(run_id or {}), "n_train": len(images)})
    start, history = 0, []
    state = load_resume(resume_path, fp)
    if state is not None:
        trainer.load_state(state)
        start, history = int(state["epoch"]), list(state["history"])
    monitor_attack = (
        training_attack(model, cfg, cfg.monitor_steps, keep_best=True, graphed=trainer.fast) if cfg.eps > 0 else None
    )
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        row: dict[str, float] = {"epoch": epoch + 1, "lr": float(trainer.optimizer.param_groups[0]["lr"])}
        row.update(trainer.train_epoch(images, labels, epoch, progress and first))
        seconds = time.perf_counter() - t0
        gen = epoch_generator(cfg.seed + 1, epoch, images.device)
        if cfg.supervised:
            row["clean_acc"] = accuracy(model, *monitor_set)
            row["robust_acc"] = (
                accuracy(model, *monitor_set, partial(monitor_attack, generator=gen))
                if monitor_attack
                else row["clean_acc"]
            )
        else:  # the head is fitted after training (Method.final_head)
            row["clean_acc"] = row["robust_acc"] = math.nan
        row.update(weight_norm=weight_norm(model), epoch_seconds=seconds, images_per_s=len(images) / seconds)
        history.append(row)
        if not first:
            continue
        log.info(
            "epoch %d/%d  loss %.4f  train acc %.1f%%  held-out clean %.1f%%  robust@%g %.1f%%  ||w|| %.2f  %.0f img/s",
            epoch + 1,
            cfg.epochs,
            row["train_loss"],
            row["train_acc"],
            row["clean_acc"],
            cfg.eps,
            row["robust_acc"],
            row["weight_norm"],
            row["images_per_s"],
        )
        if resume_path is not None:
            save_tensors(trainer.state(epoch + 1, history, fp), resume_path)
    trainer.method.finish(model)
    return history
