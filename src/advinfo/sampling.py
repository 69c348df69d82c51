"""The one sampler behind every fixed subset of images: seeded and stratified by class.

Datasets read from image folders are stored class by class, so a prefix of n images holds one
or two classes. Every stage that looks at part of a split (monitoring, evaluation, Fisher,
t-SNE, mutual information, robustness of transferred heads, Task2Vec, inversion) takes its
images from :func:`stratified_indices` instead, with the same seed for every model, so that
models are compared on the same images.
"""

from __future__ import annotations

import numpy as np


def _proportional(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Images per class in proportion to ``counts`` (largest remainders, ties broken at random)."""
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((rng.random(len(counts)), -(exact - quota)))  # largest remainder first
    quota[order[: n - quota.sum()]] += 1
    return quota


def _balanced(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Images per class as equal as ``counts`` allow (a class short of its share gives the rest
    to the others), the last ones to classes drawn at random."""
    quota = np.zeros_like(counts)
    while quota.sum() < n:
        open_ = np.flatnonzero(quota < counts)
        share = (n - quota.sum()) // len(open_)
        if share == 0:  # fewer images left than classes that can take one
            quota[rng.choice(open_, n - quota.sum(), replace=False)] += 1
            break
        quota[open_] = np.minimum(counts[open_], quota[open_] + share)
    return quota


def stratified_indices(labels: np.ndarray, n: int | None, seed: int, balanced: bool = False) -> np.ndarray:
    """Indices of ``n`` images of ``labels`` (all when ``n`` is None or not below their number), in a
    seeded random order, with each class in proportion to its share of the images, or, with
    ``balanced``, every class equally (as far as its images allow).

    The same labels, ``n`` and ``seed`` always give the same indices, whatever the model.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if n is None or n >= len(labels):
        return rng.permutation(len(labels))
    if n < 0:
        raise ValueError(f"cannot sample {n} images")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = (_balanced if balanced else _proportional)(counts, n, rng)
    members = np.argsort(inverse, kind="stable")  # indices grouped by class, in class order
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = [rng.permutation(members[s : s + c])[:q] for s, c, q in zip(starts, counts, quota, strict=True)]
    return rng.permutation(np.concatenate(chosen))
