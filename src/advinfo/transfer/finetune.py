"""Partial fine-tuning on a target task (the paper's Table 3): a new linear head plus the
last k residual stages learn; earlier stages stay frozen with BatchNorm in eval mode."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from advinfo.datasets.images import ImageDataset, model_inputs
from advinfo.device import pick_device
from advinfo.nets.checkpoint import weights_hash
from advinfo.nets.models import Classifier, with_head
from advinfo.plan.hyperparameters import TrainConfig
from advinfo.training.loop import train


class PartialFinetune(nn.Module):
    """Wraps a classifier so that only its last ``trainable_stages`` stages and its head learn.

    The frozen modules have ``requires_grad`` off (so autograd builds no graph through them
    and the optimiser skips them) and are put back in eval mode whenever the wrapper is put
    in training mode, so their BatchNorm statistics stay those of the source task.
    """

    def __init__(self, model: Classifier, trainable_stages: int) -> None:
        super().__init__()
        n = len(model.stages)
        if not 0 <= trainable_stages <= n:
            raise ValueError(f"can unfreeze 0 to {n} stages of this model, got {trainable_stages}")
        self.model = model
        # A tuple, not a ModuleList: these modules are registered once, under self.model. All
        # but the head and the stages that learn (a zoo network, without stages: all but its head).
        rest = tuple(m for m in model.children() if m is not model.head and m is not model.stages)
        self.frozen = (*rest, *model.stages[: n - trainable_stages])
        for module in self.frozen:
            module.requires_grad_(False)

    def train(self, mode: bool = True) -> PartialFinetune:
        super().train(mode)
        for module in self.frozen:
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def finetune(
    model: Classifier,
    target: ImageDataset,
    trainable_stages: int,
    cfg: TrainConfig,
    image_size: int,
    monitor_size: int = 500,
    head: nn.Linear | None = None,
    resume_path: str | Path | None = None,
    device: torch.device | None = None,
    progress: bool = True,
    *,
    sample_seed: int,
) -> tuple[Classifier, list[dict[str, float]]]:
    """Train a new head and the last ``trainable_stages`` stages of a copy of ``model`` on
    ``target``; return the tuned copy (eval mode) and per-epoch metrics, scored after every epoch
    on ``monitor_size`` test images drawn by class with ``sample_seed``.

    ``head`` is the head to start from: the target's linear probe gives "LP-FT" (Kumar et
    al. 2022), which converges in a few epochs where a random head (``None``, seeded by
    ``cfg.seed``) needs many more, since SGD on raw features is badly conditioned.
    """
    device = device or pick_device()
    train_set = model_inputs(target, "train", image_size, device)
    monitor_set = model_inputs(target, "test", image_size, device, limit=monitor_size, seed=sample_seed)
    torch.manual_seed(cfg.seed)
    if head is None:
        head = nn.Linear(model.feature_dim, target.num_classes)
    elif head.out_features != target.num_classes:
        raise ValueError(
            f"the initial head has {head.out_features} outputs, {target.name} has {target.num_classes} classes"
        )
    tuned = with_head(model.to(device), copy.deepcopy(head))
    wrapper = PartialFinetune(tuned, trainable_stages)
    # A resume state is reused only for the same source weights and starting head.
    run_id = {
        "target": target.name,
        "trainable_stages": trainable_stages,
        "image_size": image_size,
        "weights": weights_hash(tuned),
    }
    history = train(wrapper, cfg, train_set, monitor_set, resume_path, run_id, progress)
    return tuned.eval(), history
