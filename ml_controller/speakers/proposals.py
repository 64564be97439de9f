"""Retroactive naming: which speakers of a tenant's other meetings sound like a person just named.

Only proposals: the API stores them and a person confirms or rejects each; nothing is renamed
here. A speaker qualifies when its voiceprint's cosine similarity to the named one reaches the
threshold calibrated for their (shared) embedder schema, the one used for naming new meetings;
each other meeting proposes at most its best-scoring label (a person speaks as one label).
"""

from __future__ import annotations

from collections.abc import Iterable

from ml_controller.vectors.models import VoiceHit


def best_per_meeting(hits: Iterable[VoiceHit], threshold: float) -> list[VoiceHit]:
    """The best hit of each meeting that reaches `threshold`, best first."""
    best: dict[str, VoiceHit] = {}
    for hit in hits:
        if hit.score < threshold:
            continue
        kept = best.get(hit.meeting_id)
        if kept is None or hit.score > kept.score:
            best[hit.meeting_id] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.meeting_id, h.label))
