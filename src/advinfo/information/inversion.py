"""What a representation keeps of its image: inversion (the paper's Def. 0.1, Eq. 3), inversion
through weights perturbed once by the posterior noise ("noise once"), effective images
(Def. 0.7, Eq. 10), and feature visualisation (Engstrom et al. 2019).

* inversion:   x̂ = argmin_x' ||f_w(x') − z̄|| / ||z̄||,        z̄ = f_w(x)
* noise once:  x̂ = argmin_x' ||f_{w+n}(x') − z̄|| / ||z̄||,    n ~ N(0, Σ*) drawn once; only z̄
               is given, as in a real inversion
* effective:   x̂ = argmin_x' ||f_w(x') − f_{w+n}(x)|| / ||f_{w+n}(x)||: what the classifier sees of x
               under the weight noise SGD leaves

Each follows the robustness library's recipe: from x'(0) ~ N(0.5, σ) clamped to [0, 1], steps
along the L2-normalised gradient of the normalised loss, clamped to [0, 1] after each, with
the last ReLU of f passing gradients as the identity ("fake ReLU"); at a fixed step size until
the loss levels off (or the budget nears its end), then a short linear decay to zero, so the
images settle instead of oscillating at the step's scale; each inversion says whether it
levelled off (:func:`invert`). Σ* is the diagonal posterior of :mod:`advinfo.information.posterior`.
Images are optimised as one batch; BatchNorm is in eval mode, so every image's problem is
independent of the others.

Feature manipulation (Engstrom et al. 2019) adds one chosen coordinate of z to real images:
PGD ascent on z_k within an L2 pixel budget.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from advinfo.convergence import Convergence
from advinfo.errors import DivergenceError
from advinfo.plan.schema import FromSchema
from advinfo.robust.attacks import PGD, flat_norm

Fn = Callable[[torch.Tensor], torch.Tensor]
VARIANTS = ("inversion", "noise_once", "effective")


@dataclass(frozen=True)
class InversionConfig(FromSchema):
    """The optimisation of every inversion (``from_schema``: the schema's ``inversion`` defaults)."""

    SECTION: ClassVar[str] = "inversion"

    sigma: float  # x'(0) ~ N(0.5, σ)
    step_size: float  # L2 norm of each step on each image, until it decays to 0 over the last window
    max_iters: int
    window: int  # converged when the mean loss fell by less than tol (relative) over window iterations
    tol: float
    seed: int = 0


class Inverted(NamedTuple):
    """One inversion's images, the loss of every image at every iteration (iterations + 1, N),
    and whether it converged."""

    images: torch.Tensor
    losses: np.ndarray
    fit: Convergence


def frozen(model: nn.Module) -> nn.Module:
    """An eval-mode copy whose weights need no gradient (only the image is optimised)."""
    out = copy.deepcopy(model).eval()
    for p in out.parameters():
        p.requires_grad_(False)
    return out


def perturbed(model: nn.Module, logvar: dict[str, torch.Tensor], generator: torch.Generator) -> nn.Module:
    """A frozen copy with weights w + n, n ~ N(0, exp(logvar)) drawn once (on the CPU, so a seed
    gives the same noise on any device)."""
    out = frozen(model)
    params = dict(out.named_parameters())
    missing = sorted(set(params) - set(logvar))
    if missing:
        raise ValueError(f"the weight posterior has no log-variance for {missing[:3]}: it belongs to another model")
    for name, p in params.items():
        std = logvar[name].float().mul(0.5).exp()
        p.add_((torch.randn(std.shape, generator=generator) * std).to(p.device))
    return out


def start_images(
    shape: tuple[int, ...], sigma: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """x'(0) ~ N(0.5, σ), clamped to [0, 1]."""
    return (0.5 + sigma * torch.randn(shape, generator=generator)).clamp_(0, 1).to(device)


def relative_distance(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||z − target|| / ||target|| per row: the robustness library's normalised inversion loss."""
    return (z - target).norm(dim=1) / target.norm(dim=1).clamp_min(1e-12)


def converged(mean_losses: list[float], window: int, tol: float) -> bool:
    """True once the mean loss fell by less than ``tol`` (relative) over the last ``window`` iterations."""
    return len(mean_losses) > window and window_change(mean_losses, window) < tol


def window_change(mean_losses: list[float], window: int) -> float:
    """The relative fall of the mean loss over the last ``window`` iterations (over all of them
    when there are fewer)."""
    old, new = mean_losses[-min(window, len(mean_losses) - 1) - 1], mean_losses[-1]
    return (old - new) / old if old > 0 else 0.0


def normalised_step(x: torch.Tensor, grad: torch.Tensor, size: float) -> None:
    """x ← clamp(x − size · grad / ||grad||₂, 0, 1) per image, in place."""
    x.sub_(size * grad / flat_norm(grad).clamp_min(1e-12)).clamp_(0, 1)


def step_sizes(first: float, iterations: int) -> np.ndarray:
    """The step size of each iteration: ``first`` decaying linearly to 0."""
    return first * (1 - np.arange(iterations) / iterations)


def invert(
    f: Fn,
    target: torch.Tensor,
    image_size: tuple[int, int],
    cfg: InversionConfig,
    generator: torch.Generator,
    desc: str = "invert",
    progress: bool = True,
) -> Inverted:
    """x' (N, 3, H, W) minimising ||f(x') − target|| / ||target|| per image; the loss of every
    image at every iteration, shape (iterations + 1, N), the last row the final images'; and
    whether the mean loss levelled off.

    Steps of ``cfg.step_size`` until the mean loss fell by less than ``cfg.tol`` (relative) over
    ``cfg.window`` iterations (converged), or until only ``cfg.window`` iterations of the budget
    are left (not converged); then ``cfg.window`` iterations whose step decays linearly to 0, so
    the images settle instead of oscillating at the step's scale. The rule is judged at a fixed
    step: a decaying one would flatten the loss whether or not the images had arrived."""
    x = start_images((len(target), 3, *image_size), cfg.sigma, generator, target.device).requires_grad_(True)
    settle = min(cfg.window, cfg.max_iters)
    history: list[np.ndarray] = []
    means: list[float] = []
    fit: Convergence | None = None
    with tqdm(total=cfg.max_iters, desc=desc, disable=not progress, mininterval=5) as bar:
        for iteration in range(cfg.max_iters):
            loss = relative_distance(f(x), target)
            history.append(loss.detach().cpu().numpy())
            means.append(float(history[-1].mean()))
            if not np.isfinite(means[-1]):
                raise DivergenceError(f"{desc}: non-finite inversion loss at iteration {len(means)}")
            if fit is None:
                levelled = converged(means, cfg.window, cfg.tol)
                if levelled or iteration >= cfg.max_iters - settle:
                    fit = Convergence(levelled, iteration, window_change(means, cfg.window))
            if fit is not None and iteration - fit.iterations >= settle:
                break  # this iteration's loss is the settled images'
            size = cfg.step_size if fit is None else cfg.step_size * (1 - (iteration - fit.iterations) / settle)
            (grad,) = torch.autograd.grad(loss.sum(), x)
            with torch.no_grad():
                normalised_step(x, grad, size)
            bar.update()
        else:
            with torch.no_grad():
                history.append(relative_distance(f(x), target).cpu().numpy())
    if fit is None:  # unreachable: the budget's last window always decides
        raise RuntimeError(f"{desc}: the inversion ended without a convergence decision")
    return Inverted(x.detach(), np.stack(history), Convergence(fit.converged, len(history) - 1, fit.change))


def inversion_features(model: nn.Module) -> Fn:
    """f_w with the fake last ReLU, where the network has one (``has_fake_relu``; a zoo network
    whose z is not a pooled ReLU has not): what every inversion differentiates."""
    return lambda x: model.features(x, fake_relu=model.has_fake_relu)


def invert_variants(
    model: nn.Module,
    logvar: dict[str, torch.Tensor],
    images: torch.Tensor,
    cfg: InversionConfig,
    progress: bool = True,
) -> tuple[dict[str, Inverted], np.ndarray]:
    """({variant: its inversion} for inversion, noise once and the effective image of
    ``images`` (float in [0, 1]), and ||f_{w+n}(x) − f_w(x)|| / ||f_w(x)|| per image: how far the
    noise moves the features). The noise n is drawn once and shared by the two noisy variants."""
    generator = torch.Generator().manual_seed(cfg.seed)
    clean = frozen(model)
    noisy = perturbed(model, logvar, generator)
    with torch.no_grad():
        z, z_noisy = clean.features(images), noisy.features(images)
    f_clean, f_noisy = inversion_features(clean), inversion_features(noisy)
    problems = {"inversion": (f_clean, z), "noise_once": (f_noisy, z), "effective": (f_clean, z_noisy)}
    size = tuple(images.shape[2:])
    # Every variant starts from the same x'(0), so their curves differ only by the problem.
    results = {
        variant: invert(f, target, size, cfg, torch.Generator().manual_seed(cfg.seed), variant, progress)
        for variant, (f, target) in problems.items()
    }
    return results, relative_distance(z_noisy, z).cpu().numpy()


def visualise_features(
    model: nn.Module,
    coordinates: list[int],
    image_size: tuple[int, int],
    iterations: int,
    cfg: InversionConfig,
    device: torch.device,
) -> tuple[torch.Tensor, np.ndarray]:
    """(images, activations): for each coordinate k, an image in [0, 1] that maximises z_k
    (normalised-gradient ascent with the inversion's decaying steps, from x'(0) ~ N(0.5, σ)),
    and z_k of that image."""
    clean = frozen(model)
    f = inversion_features(clean)
    generator = torch.Generator().manual_seed(cfg.seed)
    x = start_images((len(coordinates), 3, *image_size), cfg.sigma, generator, device).requires_grad_(True)
    index = torch.as_tensor(coordinates, device=device)
    rows = torch.arange(len(coordinates), device=device)
    for size in step_sizes(cfg.step_size, iterations):
        (grad,) = torch.autograd.grad(-f(x)[rows, index].sum(), x)
        with torch.no_grad():
            normalised_step(x, grad, float(size))
    with torch.no_grad():
        return x.detach(), clean.features(x)[rows, index].cpu().numpy()


class Coordinates(nn.Module):
    """z of each image: the "logits" whose chosen coordinate PGD raises in feature manipulation
    (built in eval mode: the attack restores the mode it finds)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


def manipulate_features(
    model: nn.Module, images: torch.Tensor, coordinates: list[int], eps: float, steps: int
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """(images', before, after): each image with its coordinate z_k raised as far as PGD takes it
    within an L2 pixel budget ``eps`` (Engstrom et al. 2019's feature manipulation), and z_k
    before and after."""
    clean = frozen(model)
    index = torch.as_tensor(coordinates, device=images.device)
    rows = torch.arange(len(coordinates), device=images.device)
    attack = PGD(
        Coordinates(clean).eval(),
        eps,
        steps=steps,
        norm="l2",
        random_start=False,
        keep_best=True,
        loss_fn=lambda z, k: z[rows, k],
    )
    raised = attack(images, index)
    with torch.no_grad():
        before, after = clean.features(images)[rows, index], clean.features(raised)[rows, index]
    return raised, before.cpu().numpy(), after.cpu().numpy()


def top_coordinates(z: torch.Tensor, k: int) -> list[int]:
    """The ``k`` coordinates of z with the largest mean over a batch: the features most in use."""
    return z.mean(0).topk(min(k, z.shape[1])).indices.tolist()


def iterations_to(losses: np.ndarray, threshold: float) -> np.ndarray:
    """Per image, the first iteration at which its loss is at most ``threshold`` (NaN if never)."""
    reached = losses <= threshold
    return np.where(reached.any(0), reached.argmax(0), np.nan).astype(float)


def image_quality(images: np.ndarray, originals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(PSNR in dB, SSIM) of each image (N, C, H, W) in [0, 1] against its original (scikit-image)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = [peak_signal_noise_ratio(o, x, data_range=1.0) for x, o in zip(images, originals, strict=True)]
    ssim = [
        structural_similarity(o, x, data_range=1.0, channel_axis=0, win_size=min(7, o.shape[-1] // 2 * 2 - 1))
        for x, o in zip(images, originals, strict=True)
    ]
    return np.asarray(psnr), np.asarray(ssim)


def describe(
    results: dict[str, Inverted],
    model: nn.Module,
    originals: torch.Tensor,
    in_distribution: np.ndarray,
    threshold: float,
    feature_change: np.ndarray,
) -> list[dict[str, object]]:
    """One record per (variant, image): PSNR and SSIM against the original, the final loss of the
    variant's own problem, the clean loss ||f_w(x̂) − f_w(x)|| / ||f_w(x)|| (comparable across
    variants), iterations run, whether the variant's inversion converged and the relative fall of
    its mean loss over the window that decided it, the first iteration whose loss is at most
    ``threshold``, and the image's ``feature_change`` under the weight noise."""
    f = frozen(model).features
    with torch.no_grad():
        z = f(originals)
        clean = {v: relative_distance(f(r.images), z).cpu().numpy() for v, r in results.items()}
    base = originals.cpu().numpy()
    records = []
    for variant, (x, losses, fit) in results.items():
        psnr, ssim = image_quality(x.cpu().numpy(), base)
        reached = iterations_to(losses, threshold)
        for i in range(len(base)):
            records.append(
                {
                    "variant": variant,
                    "image": i,
                    "in_distribution": bool(in_distribution[i]),
                    "psnr": float(psnr[i]),
                    "ssim": float(ssim[i]),
                    "final_loss": float(losses[-1, i]),
                    "clean_loss": float(clean[variant][i]),
                    "iterations": fit.iterations,
                    "converged": fit.converged,
                    "loss_change": fit.change,
                    "noise_feature_change": float(feature_change[i]),
                    "fake_relu": model.has_fake_relu,
                    "iterations_to_threshold": None if np.isnan(reached[i]) else int(reached[i]),
                }
            )
    return records
