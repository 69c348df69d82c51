"""Fisher information of the representation about the input (the paper's Def. 0.2, Prop. 0.3).

With Gaussian observation noise the Fisher of z = f(x) about x is proportional to JᵀJ,
J = ∂z/∂x. Per image we estimate its trace ||J||_F² with Hutchinson probes (one jvp each)
and its top eigenvalue λ₁ by power iteration (a jvp and a vjp per step), all through
torch.func on a whole batch at once: the model runs in eval mode, so images do not interact
and the batched jvp/vjp give every image's own J v and Jᵀ u. Prop. 0.3 is then checked
empirically: for small ε the worst representation change over ||δ||₂ = ε approaches ε²·λ₁,
and a random direction gives ε²·tr/n on average (n = input dimension).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.func import jvp, vjp

Fn = Callable[[torch.Tensor], torch.Tensor]


def _per_image_sq_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).pow(2).sum(1)


def _unit(t: torch.Tensor) -> torch.Tensor:
    """Each image's tensor scaled to unit L2 norm."""
    return t / t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (t.ndim - 1))


def hutchinson_trace(
    f: Fn, x: torch.Tensor, probes: int, generator: torch.Generator, max_batch: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image estimate of tr(JᵀJ) = E_v ||J v||² and its standard error, with Rademacher
    probes v (entries ±1, lower variance than Gaussian ones). Several probes go through one
    jvp as copies of the batch, up to ``max_batch`` images per pass."""
    if probes < 2:
        raise ValueError("at least 2 probes are needed for a standard error")
    per_pass = max(1, min(probes, max_batch // len(x)))
    samples = []
    for start in range(0, probes, per_pass):
        k = min(per_pass, probes - start)
        v = torch.randint(0, 2, (k * len(x), *x.shape[1:]), generator=generator, device=x.device).to(x.dtype) * 2 - 1
        jv = jvp(f, (x.repeat(k, *[1] * (x.ndim - 1)),), (v,))[1]
        samples.append(_per_image_sq_norm(jv).detach().view(k, len(x)))
    s = torch.cat(samples)
    return s.mean(0), s.std(0) / probes**0.5


def top_eigenvalue(
    f: Fn, x: torch.Tensor, iters: int, generator: torch.Generator, tol: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image λ₁ of JᵀJ by power iteration, and the unit input direction that attains it.

    Stops after ``iters`` steps, or earlier once no image's estimate moves by more than
    ``tol`` relative to the previous step.
    """
    _, pullback = vjp(f, x)
    u = _unit(torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype))
    lam = torch.zeros(len(x), device=x.device)
    for _ in range(iters):
        ju = jvp(f, (x,), (u,))[1]
        previous, lam = lam, _per_image_sq_norm(ju).detach()  # Rayleigh quotient uᵀJᵀJu of the unit u
        u = _unit(pullback(ju)[0]).detach()
        if ((lam - previous).abs() <= tol * lam).all():
            break
    return lam, u


def _change(f: Fn, x: torch.Tensor, z: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    return _per_image_sq_norm(f(x + delta) - z)


def worst_case_change(f: Fn, x: torch.Tensor, eps: float, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Per-image max of ||f(x+δ) − f(x)||² over ||δ||₂ = ε by gradient ascent on the sphere:
    δ ← ε·∇/||∇|| from a random start, which for a linear f is exactly power iteration on JᵀJ;
    the best iterate is kept. Pixels are not clamped to [0, 1]: Prop. 0.3 is a statement
    about the local geometry of f."""
    with torch.no_grad():
        z = f(x)
    delta = eps * _unit(torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype))
    best = torch.zeros(len(x), device=x.device)
    for _ in range(steps):
        delta.requires_grad_(True)
        change = _change(f, x, z, delta)
        (grad,) = torch.autograd.grad(change.sum(), delta)
        with torch.no_grad():
            best = torch.maximum(best, change.detach())
            delta = eps * _unit(grad)
    with torch.no_grad():
        return torch.maximum(best, _change(f, x, z, delta))


def random_change(f: Fn, x: torch.Tensor, eps: float, directions: int, generator: torch.Generator) -> torch.Tensor:
    """Per-image mean of ||f(x+εu) − f(x)||² over ``directions`` uniform unit directions u."""
    with torch.no_grad():
        z = f(x)
        total = torch.zeros(len(x), device=x.device)
        for _ in range(directions):
            u = _unit(torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype))
            total += _change(f, x, z, eps * u)
    return total / directions


def fisher_measures(
    f: Fn,
    x: torch.Tensor,
    probes: int = 32,
    power_iters: int = 20,
    check_epsilons: Sequence[float] = (0.01, 0.05, 0.1),
    check_steps: int = 20,
    directions: int = 8,
    seed: int = 0,
) -> dict[str, object]:
    """Summary over the images of ``x`` (in [0, 1]) of tr(JᵀJ), λ₁ and the Prop. 0.3 check."""
    gen = torch.Generator(device=x.device).manual_seed(seed)
    trace, trace_se = hutchinson_trace(f, x, probes, gen)
    lam, _ = top_eigenvalue(f, x, power_iters, gen)
    n_in = x[0].numel()
    check = []
    for eps in check_epsilons:
        worst = worst_case_change(f, x, eps, check_steps, gen)
        rand = random_change(f, x, eps, directions, gen)
        check.append(
            {
                "eps": float(eps),
                "worst_change": float(worst.mean()),
                "eps2_lambda1": float(eps**2 * lam.mean()),
                "random_change": float(rand.mean()),
                "eps2_trace_over_n": float(eps**2 * trace.mean() / n_in),
            }
        )
    return {
        "n_images": len(x),
        "input_dim": n_in,
        "trace": float(trace.mean()),
        "trace_se": float(trace_se.pow(2).sum().sqrt() / len(x)),
        "lambda1": float(lam.mean()),
        "trace_per_image": trace.tolist(),
        "lambda1_per_image": lam.tolist(),
        "prop03": check,
    }
