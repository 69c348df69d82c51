"""Task2Vec embeddings (Achille et al. 2019): a task is the diagonal Fisher information of a
fixed probe network's weights, the network carrying a linear head fitted on the task,

    F = E_x E_{y ~ p_w(y|x)} [(∇_w log p_w(y|x))²],

averaged per filter (one number per output channel of every convolution and BatchNorm),
with labels drawn from the model's own prediction (so F is the Fisher, not the empirical
Fisher). The reference code squares mini-batch gradients; this module squares per-image
gradients (torch.func vmap), which is the Fisher's definition.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap
from tqdm import tqdm

from advinfo.datasets.images import to_unit
from advinfo.fileio import atomic_path


def embedded_weights(network: nn.Module) -> list[str]:
    """The weights Task2Vec embeds: every convolution and BatchNorm weight below the head."""
    return [name for name, _ in network.named_parameters() if name.endswith("weight") and not name.startswith("head.")]


def sample_labels(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """y ~ softmax(logits) per row, drawn on the CPU so a seed gives the same labels on any device."""
    probs = F.softmax(logits.detach().float().cpu(), dim=1)
    return torch.multinomial(probs, 1, generator=generator).view(-1).to(logits.device)


def squared_grads(network: nn.Module, x: torch.Tensor, y: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
    """Σ_i (∂ CE(network(x_i), y_i) / ∂w)² over the batch, for each weight in ``names``, with
    the network in eval mode (BatchNorm uses its running statistics)."""
    network.eval()
    params = dict(network.named_parameters())
    tracked = {n: params[n].detach() for n in names}
    fixed = {n: p.detach() for n, p in params.items() if n not in tracked}
    buffers = dict(network.named_buffers())

    def loss(weights: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(network, ({**fixed, **weights}, buffers), (xi[None],))
        return F.cross_entropy(logits, yi[None])

    per_image = vmap(grad(loss), in_dims=(None, 0, 0))(tracked, x, y)
    return {n: g.pow(2).sum(0) for n, g in per_image.items()}


def fisher_embedding(
    network: nn.Module,
    images: torch.Tensor,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = True,
) -> tuple[np.ndarray, list[str]]:
    """(embedding, layer of each entry): the per-filter mean of the diagonal Fisher of
    ``network``'s embedded weights over uint8 ``images``, labels sampled from the network."""
    names = embedded_weights(network)
    generator = torch.Generator().manual_seed(seed)
    total = {n: torch.zeros_like(p) for n, p in network.named_parameters() if n in names}
    network.eval()
    for i in tqdm(range(0, len(images), batch_size), desc="Task2Vec Fisher", disable=not progress):
        x = to_unit(images[i : i + batch_size])
        with torch.no_grad():
            y = sample_labels(network(x), generator)
        for n, g2 in squared_grads(network, x, y, names).items():
            total[n] += g2
    embedding, layers = [], []
    for n in names:
        per_filter = (total[n] / len(images)).reshape(total[n].shape[0], -1).mean(1)
        embedding.append(per_filter.double().cpu().numpy())
        layers += [n] * len(per_filter)
    return np.concatenate(embedding), layers


def save_embedding(embedding: np.ndarray, layers: list[str], attrs: dict[str, object], path: str | Path) -> None:
    """Write a Task2Vec embedding, the layer of each entry and ``attrs`` to HDF5, atomically."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.create_dataset("fisher", data=embedding)
        fh.create_dataset("layers", data=np.array(layers, dtype=h5py.string_dtype()))
        fh.attrs.update(attrs)


def load_embedding(path: str | Path) -> tuple[np.ndarray, dict[str, object]]:
    """(embedding, attributes) of a file from :func:`save_embedding`; a missing, truncated or
    foreign file raises ``ValueError`` naming it."""
    try:
        with h5py.File(path, "r") as fh:
            return fh["fisher"][()], dict(fh.attrs)
    except (OSError, KeyError) as err:
        raise ValueError(f"{path} is missing, truncated or not a Task2Vec embedding ({err})") from err
