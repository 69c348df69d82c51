"""Distances between tasks, for the accuracy-gap-versus-distance figures (the paper's Figs. 3, 7).

* **EMD** (Cui et al. 2018): each dataset is the set of its class means in the feature space
  of one fixed reference network, each mean weighted by its class's share of the images; the
  distance is the Earth Mover's Distance between the two weighted sets with Euclidean ground
  cost (exact network simplex, POT's ``emd2``), and the domain similarity is exp(−γ·EMD).
* **Task2Vec** (Achille et al. 2019): each task is the diagonal Fisher of the reference
  network's weights (see :mod:`advinfo.transfer.task2vec`); two tasks are compared by the symmetric
  normalised cosine distance d_cos(Fa / (Fa + Fb), Fb / (Fa + Fb)).
"""

from __future__ import annotations

import numpy as np
import ot
from scipy.spatial.distance import cosine


def class_means(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(means, weights): the mean feature of every class present in ``y`` (in label order) and
    its share of the images."""
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    sums = np.zeros((len(classes), z.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, z.astype(np.float64))
    return sums / counts[:, None], counts / counts.sum()


def emd(means_a: np.ndarray, weights_a: np.ndarray, means_b: np.ndarray, weights_b: np.ndarray) -> float:
    """Earth Mover's Distance between two weighted point sets, Euclidean ground cost."""
    cost = ot.dist(np.asarray(means_a, np.float64), np.asarray(means_b, np.float64), metric="euclidean")
    return float(ot.emd2(np.asarray(weights_a, np.float64), np.asarray(weights_b, np.float64), cost))


def domain_emd(z_a: np.ndarray, y_a: np.ndarray, z_b: np.ndarray, y_b: np.ndarray) -> float:
    """Cui et al.'s domain distance between two labelled feature sets."""
    return emd(*class_means(z_a, y_a), *class_means(z_b, y_b))


def domain_similarity(distance: float, gamma: float) -> float:
    """exp(−γ·EMD): 1 for identical domains, towards 0 as they part."""
    return float(np.exp(-gamma * distance))


def task2vec_distance(fisher_a: np.ndarray, fisher_b: np.ndarray) -> float:
    """Symmetric Task2Vec distance: cosine distance after dividing each embedding by their sum
    (so it ignores a common scale and weighs every filter alike); 0 for equal tasks."""
    fa, fb = np.asarray(fisher_a, np.float64), np.asarray(fisher_b, np.float64)
    if fa.shape != fb.shape:
        raise ValueError(
            f"Task2Vec embeddings of different sizes ({fa.shape} vs {fb.shape}): "
            "they come from different reference networks"
        )
    total = fa + fb + 1e-12
    return float(cosine(fa / total, fb / total))
