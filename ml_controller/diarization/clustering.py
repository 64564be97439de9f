"""Global speakers from the local speakers' embeddings: how many, and who is who in each window.

Three ways to find the speakers (`ClusteringParams.method`), compared on the pyannote_debug TRAIN
split by benchmarks/diarization_quality.py:
- "ahc": average-linkage agglomerative clustering on cosine distance, cut at a threshold;
- "spectral": a pruned cosine affinity graph, the speaker count from the Laplacian's eigengap
  (`spectral.py`);
- "vbx": the AHC clusters refined by a VBx-style variational mixture that drops speakers whose
  weight vanishes (`vbx.py`).

For AHC, the distance threshold finds the speaker count. With every method, clusters with too
little speech do not count as speakers (a few odd windows would otherwise become phantom
speakers, the over-splitting MODELS.md reports). When hints rule that count out, the AHC
dendrogram is cut into exactly the nearest allowed count. Every local
speaker is then matched to a centroid, different local speakers of one window to different ones.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import pdist


@dataclass(frozen=True)
class ClusteringParams:
    """Defaults for CAM++ embeddings (benchmarks/diarization_quality.py --compare).

    Each method's parameters were chosen on the pyannote_debug TRAIN split. The method itself
    was not the train split's best: AHC scored 21.5 % DER there against spectral's 26.9 %, but
    AHC's train threshold finds one speaker on the demo meeting, the telephone sample and the
    synthetic meetings, where spectral finds the right count; see the README.
    """

    method: Literal["ahc", "spectral", "vbx"] = "spectral"
    # Average-linkage cosine distance at which the dendrogram is cut ("ahc", and the start of
    # "vbx"; 0.32 for GE2E).
    threshold: float = 0.72
    # A cluster is a speaker only if its embeddings cover at least this much speech, and at
    # least this share of all of it (the share guards long meetings against phantom speakers
    # made of a few odd windows). Seconds are summed over windows, which overlap.
    min_cluster_seconds: float = 0.0
    min_cluster_share: float = 0.01
    # Embeddings from less speech than this are too noisy to shape the clusters; they are
    # only matched to the centroids afterwards.
    min_embedding_seconds: float = 1.0
    # Bound on the points clustered at once (memory is quadratic in it); the rest are
    # matched to the centroids, as the short ones are.
    max_points: int = 2500
    # Centroid re-estimation passes over all reliable embeddings after the cut.
    refine_iterations: int = 1
    # Added to the distance of two local speakers of the same window: the segmentation model
    # already says they are different people (finite, as it sometimes splits one voice).
    same_window_penalty: float = 0.5
    # spectral: each point keeps its most similar neighbours, this share of all points (at
    # least `spectral_min_neighbours`), as edges of the affinity graph.
    spectral_keep: float = 0.05
    spectral_min_neighbours: int = 8
    # vbx: how sharply a point prefers the nearest speaker (a von Mises-Fisher concentration
    # times VBx's acoustic scaling), the iterations, and the share of speech below which a
    # speaker is dropped during the refinement.
    vbx_concentration: float = 10.0
    vbx_iterations: int = 20
    vbx_min_share: float = 0.05


def find_centroids(
    vectors: np.ndarray,
    seconds: np.ndarray,
    windows: np.ndarray,
    bounds: tuple[int, int],
    params: ClusteringParams,
) -> np.ndarray:
    """(speakers, dim) unit centroids from unit `vectors` (n, dim) weighted by `seconds` (n,);
    `windows` (n,) says which window each vector comes from."""
    usable = np.isfinite(vectors).all(axis=1) & (seconds > 0)
    reliable = usable & (seconds >= params.min_embedding_seconds)
    # Short recordings may have no long local speaker at all: then use what there is.
    if not reliable.any():
        reliable = usable
    chosen = np.flatnonzero(reliable)
    if len(chosen) == 0:
        return np.zeros((0, vectors.shape[1]), dtype=np.float32)
    if len(chosen) > params.max_points:
        # Evenly over time, so speakers of every part of the meeting are represented.
        chosen = chosen[np.linspace(0, len(chosen) - 1, params.max_points).round().astype(int)]
    x, w = vectors[chosen].astype(np.float64), seconds[chosen].astype(np.float64)
    low, high = bounds
    high = max(1, min(high, len(x)))
    low = max(1, min(low, high))
    if len(x) == 1:
        return _normalise(x.astype(np.float32))

    distances = pdist(x, metric="cosine")
    same_window = _same_window_pairs(windows[chosen])
    distances[same_window] += params.same_window_penalty
    tree = linkage(distances, method="average")
    labels = fcluster(tree, t=params.threshold, criterion="distance")
    min_seconds = max(params.min_cluster_seconds, params.min_cluster_share * float(w.sum()))
    if params.method == "spectral":
        from ml_controller.diarization.spectral import spectral_labels

        labels = spectral_labels(x, same_window, (low, high), params)
    elif params.method == "vbx":
        from ml_controller.diarization.vbx import vbx_labels

        labels = vbx_labels(x, w, labels, (low, high), params)
    centroids = _substantial(x, w, labels, min_seconds)
    count = len(centroids)
    if not low <= count <= high:
        target = min(max(count, low), high)
        centroids = _substantial(x, w, fcluster(tree, t=target, criterion="maxclust"), 0.0)

    x_all, w_all = vectors[reliable].astype(np.float64), seconds[reliable].astype(np.float64)
    for _ in range(params.refine_iterations):
        centroids = _refine(x_all, w_all, centroids)
    return _normalise(centroids.astype(np.float32))


def _same_window_pairs(windows: np.ndarray) -> np.ndarray:
    """Condensed-matrix positions of the pairs (i < j) that come from the same window."""
    n = len(windows)
    i, j = [], []
    # Windows are few-speaker groups of consecutive indices, so this stays linear in n.
    for start, stop in _runs_of_equal(windows):
        for a in range(start, stop):
            for b in range(a + 1, stop):
                i.append(a)
                j.append(b)
    ii, jj = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    return n * ii - ii * (ii + 1) // 2 + (jj - ii - 1)


def _runs_of_equal(values: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(values)) + 1
    bounds = [0, *edges.tolist(), len(values)]
    return list(itertools.pairwise(bounds))


def _substantial(
    x: np.ndarray, w: np.ndarray, labels: np.ndarray, min_seconds: float
) -> np.ndarray:
    """Centroids of the clusters holding at least `min_seconds`, heaviest first (at least one)."""
    ids = np.unique(labels)
    weight = np.array([w[labels == i].sum() for i in ids])
    order = np.argsort(-weight, kind="stable")
    keep = [ids[j] for j in order if weight[j] >= min_seconds] or [ids[order[0]]]
    return np.stack([_mean(x[labels == i], w[labels == i]) for i in keep])


def _refine(x: np.ndarray, w: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """One weighted spherical k-means step; a centroid that attracts nothing stays put."""
    nearest = np.argmax(x @ _normalise(centroids).T, axis=1)
    out = centroids.copy()
    for c in range(len(centroids)):
        member = nearest == c
        if member.any():
            out[c] = _mean(x[member], w[member])
    return out


def _mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.asarray(_normalise((x * w[:, None]).sum(axis=0, keepdims=True))[0])


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.where(norm > 0, norm, 1.0))


def assign_speakers(vectors: np.ndarray, active: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(windows, local speakers) global speaker index per local speaker, -1 where silent.

    Within a window, local speakers go to distinct global speakers (Hungarian assignment on
    cosine similarity); a window with more local speakers than there are global ones gives the
    rest their nearest centroid. A local speaker without an embedding takes the centroid left.
    """
    n_windows, n_local = active.shape
    result = np.full((n_windows, n_local), -1, dtype=np.int64)
    if len(centroids) == 0:
        return result
    finite = np.isfinite(vectors).all(axis=2)
    sims = np.einsum("wsd,kd->wsk", np.nan_to_num(vectors), centroids)
    # Without an embedding a local speaker has no preference; a small constant keeps it last.
    sims[~finite] = -1.0
    for w in range(n_windows):
        rows = np.flatnonzero(active[w])
        if len(rows) == 0:
            continue
        sim = sims[w, rows]
        r, c = linear_sum_assignment(-sim)
        result[w, rows[r]] = c
        rest = np.setdiff1d(np.arange(len(rows)), r)
        result[w, rows[rest]] = np.argmax(sim[rest], axis=1)
    return result


def speaker_embeddings(
    vectors: np.ndarray,
    seconds: np.ndarray,
    assignment: np.ndarray,
    n_speakers: int,
    min_seconds: float,
) -> np.ndarray:
    """(speakers, dim) unit voice embedding of each global speaker, NaN rows for none.

    The mean of the window embeddings `assign_speakers` gave that speaker, weighted by the
    speech behind each: a centroid of the whole meeting, unlike the clustering's centroids,
    which may leave out long recordings' surplus points. Embeddings from less than
    `min_seconds` of speech are used only for a speaker who has nothing longer.
    """
    dim = vectors.shape[-1]
    x = vectors.reshape(-1, dim).astype(np.float64)
    w = seconds.reshape(-1).astype(np.float64)
    owner = assignment.reshape(-1)
    usable = np.isfinite(x).all(axis=1) & (w > 0) & (owner >= 0)
    out = np.full((n_speakers, dim), np.nan, dtype=np.float32)
    for speaker in range(n_speakers):
        mine = usable & (owner == speaker)
        long = mine & (w >= min_seconds)
        chosen = long if long.any() else mine
        if chosen.any():
            out[speaker] = _mean(x[chosen], w[chosen])
    return out
