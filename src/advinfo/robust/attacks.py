"""Projected gradient descent (Madry et al. 2018), the inner maximisation of Eq. (1).

Inputs live in [0, 1]. The attack runs with the model in eval mode (BatchNorm statistics
are not touched by attack passes, as in the robustness library) and takes gradients with
``torch.autograd.grad`` so the model's parameter gradients are left alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from advinfo.graphed import Graphed

NORMS = ("l2", "linf")


def flat_norm(x: torch.Tensor) -> torch.Tensor:
    """Per-sample L2 norm, shaped to broadcast against x."""
    return x.flatten(1).norm(dim=1).view(-1, *([1] * (x.ndim - 1)))


class PGD:
    """L2 or L-infinity PGD with random start, projection and [0, 1] clamping.

    Args:
        model: maps images (N, C, H, W) in [0, 1] to logits (N, K).
        eps: radius of the ball (L2 norm of the whole image, or max per pixel).
        steps: number of gradient steps k (7 for training, 20+ for evaluation).
        step_size: alpha; default 2.5 * eps / steps (Madry et al.'s recipe).
        norm: "l2" (normalised-gradient steps) or "linf" (sign steps).
        random_start: start uniformly inside the ball instead of at x.
        keep_best: return, per sample, the iterate with the highest loss seen (stronger
            for evaluation; training uses the last iterate).
        loss_fn: per-sample loss to maximise, (logits, labels) -> (N,); cross-entropy.
        graphed: on a GPU, replay the k steps of each batch shape as one CUDA graph (for an
            attack called many times on one network, like the per-epoch monitor; the output
            then lives in the graph's buffer until the next call).
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        steps: int = 7,
        step_size: float | None = None,
        norm: str = "l2",
        random_start: bool = True,
        keep_best: bool = False,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        graphed: bool = False,
    ) -> None:
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.model = model
        self.eps = float(eps)
        self.steps = steps
        self.step_size = 2.5 * self.eps / steps if step_size is None else float(step_size)
        self.norm = norm
        self.random_start = random_start
        self.keep_best = keep_best
        self.loss_fn = loss_fn or (lambda logits, y: F.cross_entropy(logits, y, reduction="none"))
        self._steps = Graphed(lambda x, y, start: (self._attack(x, y, start),), enabled=graphed)

    def draw(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """The random start of an attack on x (None without one): drawn apart from the attack
        itself, so that a captured training step (:mod:`advinfo.graphed`) gets it as an input."""
        if not self.random_start or self.eps == 0:
            return None
        if self.norm == "linf":
            u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return (2 * u - 1) * self.eps
        # Gaussian direction, radius uniform in [0, eps]: a start closer to x
        # than one on the sphere leaves less random direction for the k steps to undo.
        direction = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        direction /= flat_norm(direction).clamp_min(1e-12)
        radius = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), generator=generator, device=x.device, dtype=x.dtype)
        return direction * self.eps * radius

    def _project(self, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """Project delta onto the eps-ball, then keep x + delta inside [0, 1]."""
        if self.norm == "linf":
            delta = delta.clamp(-self.eps, self.eps)
        else:
            delta = delta * (self.eps / flat_norm(delta).clamp_min(1e-12)).clamp(max=1.0)
        return (x + delta).clamp(0.0, 1.0) - x

    def _ascent(self, grad: torch.Tensor) -> torch.Tensor:
        if self.norm == "linf":
            return grad.sign()
        return grad / flat_norm(grad).clamp_min(1e-12)

    def __call__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
        start: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Adversarial images x + delta, same shape as x, detached. The random start is
        ``start`` when given (from :meth:`draw`), else drawn here from ``generator``."""
        if self.eps == 0:
            return x.detach()
        if start is None:
            start = self.draw(x, generator)
        was_training = self.model.training
        self.model.eval()
        try:
            return self._steps(x.detach(), y, start)[0]
        finally:
            self.model.train(was_training)

    def _attack(self, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor | None) -> torch.Tensor:
        delta = torch.zeros_like(x) if start is None else self._project(x, start)
        best, best_loss = delta.clone(), torch.full((x.shape[0],), -torch.inf, device=x.device)
        for _ in range(self.steps):
            delta.requires_grad_(True)
            loss = self.loss_fn(self.model(x + delta), y)
            (grad,) = torch.autograd.grad(loss.sum(), delta)
            if self.keep_best:
                best, best_loss = self._update_best(best, best_loss, delta.detach(), loss.detach())
            delta = self._project(x, delta.detach() + self.step_size * self._ascent(grad))
        if self.keep_best:
            with torch.no_grad():
                loss = self.loss_fn(self.model(x + delta), y)
            best, _ = self._update_best(best, best_loss, delta, loss)
            delta = best
        return (x + delta).detach()

    @staticmethod
    def _update_best(
        best: torch.Tensor, best_loss: torch.Tensor, delta: torch.Tensor, loss: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        better = loss > best_loss
        mask = better.view(-1, *([1] * (delta.ndim - 1)))
        return torch.where(mask, delta, best), torch.where(better, loss, best_loss)
