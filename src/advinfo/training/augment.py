"""The randomness of a training epoch: one generator per (seed, epoch), and per-sample
augmentation drawn from it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator for every random draw of one epoch (shuffle, augmentation, attack), so a
    run resumed after epoch e draws what an uninterrupted one would."""
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
