"""2-D embeddings of representations for the paper's Fig. 6."""

from __future__ import annotations

import numpy as np
from sklearn.manifold import TSNE


def tsne_embedding(features: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """(N, 2) t-SNE of (N, D) features (PCA initialisation, so runs with one seed agree)."""
    perplexity = min(perplexity, (len(features) - 1) / 3)  # scikit-learn needs perplexity < N
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
