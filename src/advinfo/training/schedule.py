"""The learning-rate schedules of training: a triangle (linear warm-up, then linear decay to 0)
or steps at milestones."""

from __future__ import annotations

from collections.abc import Callable

from advinfo.plan.hyperparameters import TrainConfig


def lr_lambda(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the peak lr at optimizer step t."""
    total = cfg.epochs * steps_per_epoch
    if cfg.schedule == "step":
        return lambda t: cfg.gamma ** sum(t >= m * steps_per_epoch for m in cfg.milestones)
    warm = max(1, round(cfg.warmup * total))
    return lambda t: (t + 1) / warm if t < warm else max(0.0, (total - t) / max(1, total - warm))
