"""TRADES (Zhang et al. 2019; the paper's Eq. 2): clean cross-entropy plus β times the KL
divergence between the clean and the adversarial prediction, whose inner maximisation is PGD on
that KL."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from advinfo.plan.hyperparameters import TrainConfig
from advinfo.robust.attacks import PGD
from advinfo.training.methods.base import Method, attack_step


def trades_kl(logits_adv: torch.Tensor, p_clean: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(p_clean || softmax(logits_adv)), the TRADES divergence (as the official
    code's ``KLDivLoss(log_softmax(adv), softmax(clean))``)."""
    return F.kl_div(F.log_softmax(logits_adv, dim=1), p_clean, reduction="none").sum(1)


def trades_attack(net: nn.Module, cfg: TrainConfig) -> PGD:
    """TRADES's inner maximisation: PGD on the KL to the clean prediction (passed as the
    attack's labels). It always starts at a random point: at δ = 0 the KL has no gradient."""
    return PGD(
        net,
        cfg.eps,
        steps=cfg.attack_steps,
        step_size=attack_step(cfg, cfg.attack_steps),
        norm=cfg.norm,
        random_start=True,
        loss_fn=trades_kl,
    )


class TRADESLoss(nn.Module):
    """(CE(f(x)) + β·mean KL(p(x) || p(x_adv)), the clean logits): one module, so that
    data-parallel training wraps both forward passes of a step."""

    def __init__(self, model: nn.Module, beta: float) -> None:
        super().__init__()
        self.model, self.beta = model, beta

    def forward(self, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(x)
        robust = trades_kl(self.model(x_adv), F.softmax(logits, dim=1)).mean()
        return F.cross_entropy(logits, y) + self.beta * robust, logits


class TRADES(Method):
    """TRADES; the reported accuracy is the clean one."""

    name = "trades"
    hyperparameters = ("trades_beta",)

    def __init__(self, net: nn.Module, cfg: TrainConfig, input_shape: tuple[int, ...]) -> None:
        super().__init__(net, cfg, input_shape)
        self.loss = TRADESLoss(net, cfg.options["trades_beta"])
        self.attack = trades_attack(net, cfg)

    def adversarial(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor:
        """PGD on the KL to the clean prediction, taken in eval mode (as the official code)."""
        self.net.eval()
        with torch.no_grad():
            p_clean = F.softmax(self.net(x).float(), dim=1)
        self.net.train()
        return self.attack(x, p_clean, start=start)
