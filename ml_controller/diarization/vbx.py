"""A VBx-style refinement of agglomerative clusters.

VBx (Landini et al., 2022) starts from AHC and lets a Bayesian mixture re-assign x-vectors,
updating each speaker's share of the recording so that speakers nobody needs fade out. Here the
same loop runs on unit embeddings with a von Mises-Fisher likelihood (no PLDA, which would need
training data from the embedder's own domain, and no HMM over time, since points are window
speakers rather than a frame sequence): responsibilities from the speakers' mean directions and
shares, then directions and shares from the responsibilities weighted by each point's speech.
A speaker whose share falls below `vbx_min_share` is dropped, unless that would go under the
allowed count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ml_controller.diarization.clustering import ClusteringParams


def vbx_labels(
    x: np.ndarray,
    w: np.ndarray,
    initial: np.ndarray,
    bounds: tuple[int, int],
    params: ClusteringParams,
) -> np.ndarray:
    """Refined labels 1..k for unit rows `x` with speech weights `w`, from `initial` labels."""
    low, _ = bounds
    ids = np.unique(initial)
    q = (initial[:, None] == ids[None, :]).astype(np.float64)
    weights = w / max(float(w.sum()), 1e-12)
    for _ in range(params.vbx_iterations):
        mass = weights @ q  # share of speech per speaker
        means = (q * weights[:, None]).T @ x
        norms = np.linalg.norm(means, axis=1, keepdims=True)
        means = means / np.where(norms > 0, norms, 1.0)
        keep = mass >= params.vbx_min_share
        if keep.sum() < max(1, low):
            keep = np.zeros(len(mass), dtype=bool)
            keep[np.argsort(-mass)[: max(1, low)]] = True
        mass, means = mass[keep], means[keep]
        logits = np.log(mass)[None, :] + params.vbx_concentration * (x @ means.T)
        logits -= logits.max(axis=1, keepdims=True)
        q_new = np.exp(logits)
        q_new /= q_new.sum(axis=1, keepdims=True)
        converged = q_new.shape == q.shape and np.abs(q_new - q).max() < 1e-4
        q = q_new
        if converged:
            break
    return np.asarray(np.argmax(q, axis=1) + 1, dtype=np.int64)
