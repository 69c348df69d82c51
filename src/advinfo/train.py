"""Standard, L2/L-inf PGD (Eq. 1), TRADES (Eq. 2), AR-AT and worst-case mutual information
training, resumable epoch by epoch.

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
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from advinfo.arat import ARATLoss, bn_branch, merge_adversarial, split_batchnorm
from advinfo.attacks import PGD
from advinfo.data import to_unit
from advinfo.errors import DivergenceError
from advinfo.fileio import load_tensors, save_tensors
from advinfo.models import weight_norm
from advinfo.mutual_info import SeparableCritic, WCMILoss, mi_attack
from advinfo.robustness import accuracy
from advinfo.sampling import stratified_indices

log = logging.getLogger(__name__)

METHODS = ("standard", "pgd", "trades", "arat", "wcmi")
SUPERVISED = ("standard", "pgd", "trades", "arat")  # wcmi learns without labels
ARAT_ACCURACY_IMAGES = 1000  # training images whose clean accuracy weighs AR-AT's two CE terms


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one pretraining run (units in comments)."""

    method: str = "standard"  # "standard", "pgd" (Madry et al.), "trades" (Zhang et al., the paper's Eq. 2),
    # "arat" (Waseda et al., asymmetric invariance) or "wcmi" (Zhu et al., worst-case mutual information)
    eps: float = 0.0  # attack radius in [0, 1] pixel units (L2 norm of the image, or max per pixel)
    norm: str = "l2"  # "l2" or "linf"
    attack_steps: int = 7  # k, PGD steps per training batch
    step_size_factor: float = 2.5  # alpha = factor * eps / k
    random_start: bool = True
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1  # peak learning rate of SGD
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "triangle"  # "triangle" (linear warm-up then decay to 0) or "step"
    warmup: float = 0.2  # triangle: fraction of training spent warming up
    milestones: tuple[int, ...] = field(default_factory=tuple)  # step: epochs where lr *= gamma
    gamma: float = 0.1
    crop_padding: int = 2  # random translation by up to this many pixels
    flip: bool = False  # random horizontal flips (off for digits and letters)
    monitor_steps: int = 10  # PGD steps of the per-epoch held-out robust accuracy
    trades_beta: float = 6.0  # TRADES: weight of the KL between clean and adversarial predictions
    arat_alpha: float = 30.0  # AR-AT: weight of the invariance loss (the official ResNet-18 value)
    arat_layer: int = -1  # AR-AT: residual stage whose pooled output the invariance loss aligns
    precision: str = "fp32"  # "fp32" or "bf16" (autocast of every forward and backward pass)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "standard" and self.eps != 0:
            raise ValueError(f"method 'standard' trains at eps 0, got eps={self.eps}")
        if self.method != "standard" and self.eps <= 0:
            raise ValueError(f"method {self.method!r} needs eps > 0, got {self.eps}")
        if self.schedule not in ("triangle", "step"):
            raise ValueError(f"schedule must be 'triangle' or 'step', got {self.schedule!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")


@dataclass(frozen=True)
class Accel:
    """How training runs rather than what it computes (so not part of a run's identity)."""

    channels_last: bool = False  # NHWC memory layout: faster convolutions on tensor-core GPUs
    compile: bool = False  # torch.compile the network


def arat_weight_images(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Indices of the training images whose clean accuracy weighs AR-AT's two cross-entropies:
    ARAT_ACCURACY_IMAGES of them, drawn by class (a prefix of a class-sorted dataset is one class)."""
    return torch.from_numpy(stratified_indices(labels.cpu().numpy(), ARAT_ACCURACY_IMAGES, seed)).to(labels.device)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator for every random draw of one epoch (shuffle, augmentation, attack)."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)


def augment(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Per-sample random translation (zero padding) and optional horizontal flip.

    Written by hand because torchvision's batched transforms draw one offset per batch.
    """
    n, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    if flip:
        mask = torch.rand(n, generator=generator, device=x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    return x


def lr_lambda(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the peak lr at optimizer step t."""
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "step":
        return lambda t: cfg.gamma ** sum(t >= m * steps_per_epoch for m in cfg.milestones)
    warm = max(1, round(cfg.warmup * total))
    return lambda t: (t + 1) / warm if t < warm else max(0.0, (total - t) / max(1, total - warm))


def make_attack(model: nn.Module, cfg: TrainConfig, steps: int, keep_best: bool) -> PGD:
    return PGD(
        model,
        cfg.eps,
        steps=steps,
        step_size=cfg.step_size_factor * cfg.eps / steps,
        norm=cfg.norm,
        random_start=cfg.random_start,
        keep_best=keep_best,
    )


def trades_kl(logits_adv: torch.Tensor, p_clean: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(p_clean || softmax(logits_adv)), the TRADES divergence (as the official
    code's ``KLDivLoss(log_softmax(adv), softmax(clean))``)."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), p_clean, reduction="none").sum(1)


def make_trades_attack(model: nn.Module, cfg: TrainConfig) -> PGD:
    """TRADES's inner maximisation: PGD on the KL to the clean prediction (passed as the
    attack's labels). It always starts at a random point: at δ = 0 the KL has no gradient."""
    return PGD(model, cfg.eps, steps=cfg.attack_steps, step_size=cfg.step_size_factor * cfg.eps / cfg.attack_steps,
               norm=cfg.norm, random_start=True, loss_fn=trades_kl)  # fmt: skip


class MethodLoss(nn.Module):
    """(loss, reported logits) of a batch given its adversarial examples. One module, so that
    data-parallel training wraps every forward pass of a step (TRADES makes two)."""

    def __init__(self, model: nn.Module, method: str, trades_beta: float) -> None:
        super().__init__()
        self.model, self.method, self.trades_beta = model, method, trades_beta

    def forward(self, x: torch.Tensor, x_adv: torch.Tensor | None,
                y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        if self.method == "trades":
            logits = self.model(x)
            robust = trades_kl(self.model(x_adv), F.softmax(logits, dim=1)).mean()
            return F.cross_entropy(logits, y) + self.trades_beta * robust, logits
        logits = self.model(x if x_adv is None else x_adv)
        return F.cross_entropy(logits, y), logits


def method_parts(net: nn.Module, cfg: TrainConfig,
                 input_shape: tuple[int, ...]) -> tuple[nn.Module, Callable | None, nn.Module | None]:  # fmt: skip
    """(loss module, attack, the loss's own trainable part) of the config's method. Attacks
    run on the bare network: per sample, they need no gradient averaging."""
    if cfg.method == "arat":
        loss = ARATLoss(net, cfg.arat_alpha, cfg.arat_layer)
        return loss, make_attack(net, cfg, cfg.attack_steps, keep_best=False), loss.predictor
    if cfg.method == "wcmi":
        critic = SeparableCritic(math.prod(input_shape), net.feature_dim)
        attack = mi_attack(net, critic, cfg.eps, cfg.attack_steps, cfg.norm, cfg.random_start,
                           cfg.step_size_factor * cfg.eps / cfg.attack_steps)
        return WCMILoss(net, critic), attack, critic
    attack = None
    if cfg.method == "pgd":
        attack = make_attack(net, cfg, cfg.attack_steps, keep_best=False)
    elif cfg.method == "trades":
        attack = make_trades_attack(net, cfg)
    return MethodLoss(net, cfg.method, cfg.trades_beta), attack, None


def world() -> tuple[int, int]:
    """(rank, number of processes) of data-parallel training; (0, 1) without it."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive batches of an epoch's ``n`` images. A last batch too small to give every
    process two images joins the one before: BatchNorm cannot train on one image per channel,
    and worst-case MI contrasts pairs."""
    minimum = 2 * world()[1]
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < minimum:
        starts.pop()
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This process's contiguous share of a batch (all of it without data parallelism); the
    remainder of a batch that does not split evenly (the epoch's last) is left out."""
    rank, size = world()
    per = len(batch) // size
    return batch if size == 1 else batch[rank * per : (rank + 1) * per]


class Trainer:
    """Owns model, optimiser and schedule; runs epochs and checkpoints for resumption."""

    def __init__(self, model: nn.Module, cfg: TrainConfig, steps_per_epoch: int, accel: Accel = Accel(),
                 input_shape: tuple[int, ...] = (3, 32, 32)) -> None:  # fmt: skip
        self.model = model
        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        if cfg.method == "arat":
            split_batchnorm(model)
        if accel.channels_last:
            model.to(memory_format=torch.channels_last)
        self.channels_last = accel.channels_last
        net = torch.compile(model) if accel.compile else model  # attacks and the step share it
        self.net = net
        self.step, self.attack, self.extra = method_parts(net, cfg, input_shape)
        self.step.to(next(model.parameters()).device)
        self.optimizer = torch.optim.SGD(
            self.step.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda(cfg, steps_per_epoch))
        processes = world()[1]
        if cfg.batch_size % processes:
            raise ValueError(f"pretrain.batch_size {cfg.batch_size} does not split over {processes} processes; "
                             f"use a multiple of pretrain.gpus")  # fmt: skip
        if processes > 1:
            device = next(model.parameters()).device
            self.step = DistributedDataParallel(self.step, device_ids=[device] if device.type == "cuda" else None)
        device_type = next(model.parameters()).device.type
        bf16 = cfg.precision == "bf16"
        self.autocast = lambda: torch.autocast(device_type, torch.bfloat16) if bf16 else nullcontext()

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor,
                   gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
        """(loss, logits whose accuracy is reported, None for wcmi) of one training batch of the
        config's method: CE on x (standard), CE on PGD's x_adv (pgd), CE on x + β·KL(p(x) || p(x_adv))
        (trades), AR-AT's weighted CEs + invariance (arat), or −Î(x_adv; z_adv) (wcmi)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            x_adv = None
            if self.cfg.method in ("pgd", "arat"):
                x_adv = self.attack(x, y, gen)
            elif self.cfg.method == "wcmi":
                x_adv = self.attack(x, None, gen)
            elif self.cfg.method == "trades":
                self.model.eval()
                with torch.no_grad():
                    p_clean = F.softmax(self.net(x).float(), dim=1)
                self.model.train()
                x_adv = self.attack(x, p_clean, gen)
            return self.step(x, x_adv, y)

    def train_epoch(self, images: torch.Tensor, labels: torch.Tensor, epoch: int,
                    progress: bool = True) -> dict[str, float]:  # fmt: skip
        """One pass over the uint8 training images; returns loss and accuracy (on x_adv for pgd
        and arat, on x for trades, none for wcmi)."""
        cfg, model, device = self.cfg, self.model, images.device
        gen = epoch_generator(cfg.seed, epoch, device)
        order = torch.randperm(len(images), generator=gen, device=device)
        if cfg.method == "arat":
            keep = arat_weight_images(labels, cfg.seed)
            with bn_branch(model, "clean"):
                self.extra_loss().w_adv = accuracy(model, images[keep], labels[keep]) / 100
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(batch_slices(len(images), cfg.batch_size), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                   disable=not progress, mininterval=10, delay=5, leave=False)  # fmt: skip
        for step, part in enumerate(bar):
            idx = order[part]
            x = shard(augment(to_unit(images[idx]), cfg.crop_padding, cfg.flip, gen))
            y = shard(labels[idx])
            loss, logits = self.batch_loss(x, y, gen)
            if not torch.isfinite(loss):
                raise DivergenceError(
                    f"non-finite training loss ({loss.item()}) at epoch {epoch + 1}, step {step + 1}; "
                    f"lower pretrain.lr (now {cfg.lr}) or check the data"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += int((logits.detach().argmax(1) == y).sum()) if logits is not None else 0
            seen += len(y)
        train_acc = 100.0 * correct / seen if cfg.method in SUPERVISED else math.nan
        return {"train_loss": loss_sum / seen, "train_acc": train_acc}

    def extra_loss(self) -> nn.Module:
        """The method's loss module itself (under data parallelism, the one DDP wraps)."""
        return self.step.module if isinstance(self.step, DistributedDataParallel) else self.step

    def state(self, epoch: int, history: list[dict[str, float]], fingerprint: str) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "extra": self.extra.state_dict() if self.extra is not None else {},
            "history": history,
            "fingerprint": fingerprint,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.extra is not None:
            self.extra.load_state_dict(state["extra"])


def fingerprint(cfg: TrainConfig, extra: dict[str, Any]) -> str:
    """Identity of a run; a resume file from a different run is not reused."""
    return repr(sorted({**asdict(cfg), **extra}.items()))


def _resume(trainer: Trainer, path: Path | None, fp: str) -> tuple[int, list[dict[str, float]]]:
    """Load the last finished epoch from ``path`` if it belongs to this run."""
    if path is None or not path.exists():
        return 0, []
    try:
        state = load_tensors(path)
    except ValueError as err:
        log.warning("ignoring unreadable resume state: %s", err)
        return 0, []
    if state.get("fingerprint") != fp:
        log.warning("resume state %s belongs to another configuration; starting afresh", path)
        return 0, []
    trainer.load_state(state)
    log.info("resuming from %s after epoch %d", path, state["epoch"])
    return int(state["epoch"]), list(state["history"])


def train(
    model: nn.Module,
    cfg: TrainConfig,
    train_set: tuple[torch.Tensor, torch.Tensor],
    monitor_set: tuple[torch.Tensor, torch.Tensor],
    resume_path: str | Path | None = None,
    run_id: dict[str, Any] | None = None,
    progress: bool = True,
    accel: Accel = Accel(),
) -> list[dict[str, float]]:
    """Train ``model`` in place; return one metrics row per epoch. AR-AT's split BatchNorm is
    merged back to its adversarial branch at the end, so the model keeps its architecture.

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
    start, history = _resume(trainer, resume_path, fp)
    monitor_attack = make_attack(model, cfg, cfg.monitor_steps, keep_best=True) if cfg.eps > 0 else None
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        row: dict[str, float] = {"epoch": epoch + 1, "lr": trainer.optimizer.param_groups[0]["lr"]}
        row.update(trainer.train_epoch(images, labels, epoch, progress and first))
        seconds = time.perf_counter() - t0
        gen = epoch_generator(cfg.seed + 1, epoch, images.device)
        if cfg.method in SUPERVISED:
            row["clean_acc"] = accuracy(model, *monitor_set)
            row["robust_acc"] = accuracy(model, *monitor_set, monitor_attack, generator=gen) if monitor_attack else row["clean_acc"]
        else:  # the head is fitted after training (pretrain.probe_head)
            row["clean_acc"] = row["robust_acc"] = math.nan
        row.update(weight_norm=weight_norm(model), epoch_seconds=seconds, images_per_s=len(images) / seconds)
        history.append(row)
        if not first:
            continue
        log.info(
            "epoch %d/%d  loss %.4f  train acc %.1f%%  held-out clean %.1f%%  robust@%g %.1f%%  ||w|| %.2f  %.0f img/s",
            epoch + 1, cfg.epochs, row["train_loss"], row["train_acc"], row["clean_acc"], cfg.eps,
            row["robust_acc"], row["weight_norm"], row["images_per_s"],
        )  # fmt: skip
        if resume_path is not None:
            save_tensors(trainer.state(epoch + 1, history, fp), resume_path)
    if cfg.method == "arat":
        merge_adversarial(model)
    return history
