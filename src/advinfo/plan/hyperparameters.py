"""What one training run computes: its hyperparameters, with the schema's defaults.

Free of torch, so that the workflow can build a run's parameters while it parses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from advinfo.plan.methods import STANDARD, label_free, method_hyperparameters
from advinfo.plan.schema import FromSchema, section_defaults

SCHEDULES = ("triangle", "step")
PRECISIONS = ("fp32", "bf16")


def consistent(method: str, eps: float) -> bool:
    """Whether ``method`` can train at ``eps``: standard training at ε = 0, any other method at ε > 0."""
    return (method == STANDARD) == (float(eps) == 0)


@dataclass(frozen=True)
class TrainConfig(FromSchema):
    """Hyperparameters of one training run (units in comments). ``from_schema`` fills what is
    not given from the schema's ``pretrain`` section; a run's identity is its method, ε and seed."""

    SECTION: ClassVar[str] = "pretrain"

    method: str  # a training method (advinfo.plan.methods)
    eps: float  # attack radius in [0, 1] pixel units (L2 norm of the image, or max per pixel)
    seed: int
    norm: str  # "l2" or "linf"
    attack_steps: int  # k, PGD steps per training batch
    step_size_factor: float  # alpha = factor * eps / k
    random_start: bool
    epochs: int
    batch_size: int
    lr: float  # peak learning rate of SGD
    momentum: float
    nesterov: bool
    weight_decay: float
    schedule: str  # "triangle" (linear warm-up then decay to 0) or "step"
    warmup: float  # triangle: fraction of training spent warming up
    milestones: tuple[int, ...]  # step: epochs where lr *= gamma
    gamma: float
    crop_padding: int  # random translation by up to this many pixels
    flip: bool  # random horizontal flips (off for digits and letters)
    monitor_steps: int  # PGD steps of the per-epoch held-out robust accuracy
    precision: str  # "fp32" or "bf16" (autocast of every forward and backward pass)
    # The method's own hyperparameters: the pretrain keys its class lists (Method.hyperparameters).
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(self.milestones))
        if not consistent(self.method, self.eps):
            raise ValueError(
                f"method {self.method!r} with eps {self.eps:g}: standard training is the one method at eps 0"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if set(self.options) != set(method_hyperparameters(self.method)):
            raise ValueError(
                f"method {self.method!r} takes the hyperparameters {list(method_hyperparameters(self.method))}, "
                f"got {sorted(self.options)}"
            )

    @classmethod
    def from_schema(cls, method: str = STANDARD, eps: float = 0.0, seed: int = 0, **changes: Any) -> TrainConfig:
        """The schema's hyperparameters with ``changes``; standard training at ε = 0 unless told.
        The method's own hyperparameters are keys like any other (``trades_beta=6.0``)."""
        defaults = section_defaults(cls.SECTION)
        options = {key: changes.pop(key, defaults[key]) for key in method_hyperparameters(method)}
        return super().from_schema(method=method, eps=eps, seed=seed, options=options, **changes)

    @property
    def supervised(self) -> bool:
        """Whether the method learns from labels (it then reports accuracy while training)."""
        return self.method not in label_free()


def train_keys(method: str) -> list[str]:
    """The ``pretrain`` keys that decide a ``method`` run (besides its ε and seed): every
    shared hyperparameter and the method's own."""
    identity = ("method", "eps", "seed", "options")
    return [f.name for f in fields(TrainConfig) if f.name not in identity] + list(method_hyperparameters(method))
