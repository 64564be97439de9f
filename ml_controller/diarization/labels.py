"""Turn raw (start, end, label) tracks of any backend into our `Diarization` with S1.. labels."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

import numpy as np

from ml_controller.types import Diarization, SpeakerTurn

L = TypeVar("L", bound=Hashable)


def to_diarization(
    tracks: Iterable[tuple[float, float, L]],
    fill_gap: float = 0.0,
    min_duration: float = 0.0,
    embeddings: Mapping[L, np.ndarray] | None = None,
) -> Diarization:
    """Turns sorted by time, labels "S1", "S2", ... in order of first appearance.

    Same-speaker turns that overlap or lie less than `fill_gap` apart are merged (a speaker never
    overlaps themself); merged turns shorter than `min_duration` are dropped. Turns of different
    speakers are kept as they are, overlaps included. `embeddings` (raw label -> voice vector)
    follow their speakers to the new labels, L2-normalised; speakers left without turns, and
    vectors that are zero or not finite, are dropped.
    """
    ordered = sorted(
        ((float(a), float(b), label) for a, b, label in tracks if float(b) > float(a)),
        key=lambda t: (t[0], t[1]),
    )
    open_turns: dict[L, list[float]] = {}
    merged: list[tuple[float, float, L]] = []
    for start, end, label in ordered:
        current = open_turns.get(label)
        if current is not None and start <= current[1] + fill_gap:
            current[1] = max(current[1], end)
            continue
        if current is not None:
            merged.append((current[0], current[1], label))
        open_turns[label] = [start, end]
    merged.extend((a, b, label) for label, (a, b) in open_turns.items())
    merged = [t for t in merged if t[1] - t[0] >= min_duration]
    merged.sort(key=lambda t: (t[0], t[1]))

    names: dict[L, str] = {}
    turns: list[SpeakerTurn] = []
    for start, end, label in merged:
        name = names.setdefault(label, f"S{len(names) + 1}")
        turns.append(SpeakerTurn(start=round(start, 3), end=round(end, 3), speaker=name))
    vectors: dict[str, list[float]] = {}
    for label, name in names.items():
        unit = unit_vector(embeddings[label]) if embeddings and label in embeddings else None
        if unit is not None:
            vectors[name] = unit
    return Diarization(turns=turns, speakers=list(names.values()), embeddings=vectors)


def unit_vector(vector: np.ndarray) -> list[float] | None:
    """The vector scaled to length 1, or None when it has no direction (zero or not finite)."""
    v = np.asarray(vector, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm <= 1e-12:
        return None
    return [float(x) for x in v / norm]
