"""Spectral clustering of local-speaker embeddings with the speaker count from the eigengap.

As in 3D-Speaker's spectral clusterer: cosine affinities, each row pruned to its strongest
neighbours, symmetrised; the unnormalised Laplacian's smallest eigenvalues then show as many
near-zero values as there are well-separated speakers, and the largest gap between consecutive
ones (within the allowed counts) sets the count; k-means on those eigenvectors labels the points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import eigh
from scipy.spatial.distance import squareform

if TYPE_CHECKING:
    from ml_controller.diarization.clustering import ClusteringParams

# Counts up to this are considered when hints cap the count lower.
_NATURAL_SEARCH = 8


def spectral_labels(
    x: np.ndarray, same_window: np.ndarray, bounds: tuple[int, int], params: ClusteringParams
) -> np.ndarray:
    """Cluster labels 1..k of the unit rows of `x`; `same_window` are condensed-matrix positions
    of pairs the segmentation says are different people (their affinity is removed)."""
    n = len(x)
    low, high = bounds
    if n <= 2:
        return np.arange(1, n + 1) if low > 1 else np.ones(n, dtype=np.int64)
    # Negative similarities carry no evidence of a shared voice.
    condensed = np.clip(x @ x.T, 0.0, 1.0)[np.triu_indices(n, 1)]
    condensed[same_window] = 0.0
    affinity = squareform(condensed)
    keep = max(params.spectral_min_neighbours, round(params.spectral_keep * n))
    keep = min(keep, n - 1)
    pruned = np.zeros_like(affinity)
    strongest = np.argsort(-affinity, axis=1)[:, :keep]
    rows = np.repeat(np.arange(n), keep)
    pruned[rows, strongest.ravel()] = affinity[rows, strongest.ravel()]
    pruned = 0.5 * (pruned + pruned.T)
    laplacian = np.diag(pruned.sum(axis=1)) - pruned
    values, vectors = eigh(laplacian)
    high = max(1, min(high, n - 1))
    low = max(1, min(low, high))
    # The natural count is looked for beyond a hint's bounds, then brought inside them (as
    # AHC's dendrogram is cut at the nearest allowed count).
    upto = min(n - 1, max(high, _NATURAL_SEARCH))
    gaps = np.diff(values[: upto + 1])
    # gaps[k - 1] is the gap after the k-th smallest eigenvalue: k speakers.
    natural = int(np.argmax(gaps)) + 1
    k = min(max(natural, low), high)
    if k == 1:
        return np.ones(n, dtype=np.int64)
    return _kmeans(vectors[:, :k], k) + 1


def _kmeans(points: np.ndarray, k: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=10, random_state=0)
    return np.asarray(model.fit_predict(points), dtype=np.int64)
