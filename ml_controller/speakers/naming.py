"""Name a meeting's speakers from the voices a tenant has enrolled.

A speaker label's score against a person is the best cosine similarity between the label's
voiceprint and that person's enrolled voiceprints (one per meeting they were named in), or the
mean of the `top_k` best.
Pairs are then taken best score first, so each person names at most one label and each label
gets at most one person. A name is given only at a score of at least `threshold`, and only when
the label's best person beats its second-best by `margin`: a wrong name is worse than none.
A label left unnamed is an explicit "unknown" (`SpeakerMatch.known` is False).

Voiceprints carry the schema of the embedder that made them ("campplus-192-v1", "ge2e-256-v1");
only voiceprints of the query's schema are compared; enrolled ones of another schema are stale
(`stale_voices` counts them) until they are made again from stored audio or re-enrolled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnrolledVoice:
    """One enrolled voiceprint: a speaker of some meeting that a user named as this person."""

    person_id: str
    vector: np.ndarray
    # Embedder schema; None for voiceprints stored before schemas were recorded (GE2E).
    schema: str | None = None


@dataclass(frozen=True)
class NamingParams:
    threshold: float
    margin: float = 0.0
    # Score = mean of this many best similarities to a person's voiceprints (fewer if the
    # person has fewer); 1 is the maximum.
    top_k: int = 1


@dataclass(frozen=True)
class SpeakerMatch:
    label: str
    person_id: str | None
    score: float  # best similarity to any enrolled person (to the one named, when named)

    @property
    def known(self) -> bool:
        """False is the explicit "unknown": no enrolled person is a sure enough match."""
        return self.person_id is not None


# The schema of voiceprints stored before schemas were recorded: the GE2E embedder's.
LEGACY_SCHEMA = "ge2e-256-v1"

# Calibrated by benchmarks/speaker_naming.py on the pyannote_debug TRAIN split, per embedder:
# the highest train recall at train precision >= 0.98 (CAM++: 0.64 with one or with several
# enrolled prints per person; different people's CAM++ voiceprints score around 0.1, the same
# person's 0.6-0.8). GE2E: precision held only from about 0.87 up (different people reach 0.89).
NAMING_BY_SCHEMA: dict[str, NamingParams] = {
    LEGACY_SCHEMA: NamingParams(threshold=0.90, margin=0.0, top_k=1),
    "campplus-192-v1": NamingParams(threshold=0.64, margin=0.0, top_k=1),
    # The GPU backend's embeddings: not calibrated here (no GPU); the conservative value kept.
    "pyannote-v1": NamingParams(threshold=0.90, margin=0.0, top_k=1),
}
DEFAULT_NAMING = NAMING_BY_SCHEMA["campplus-192-v1"]


def naming_for(schema: str | None) -> NamingParams:
    """The calibrated naming parameters of an embedder schema (the default's when unknown)."""
    return NAMING_BY_SCHEMA.get(schema or LEGACY_SCHEMA, DEFAULT_NAMING)


def comparable(enrolled: list[EnrolledVoice], schema: str | None) -> list[EnrolledVoice]:
    """The enrolled voices made in `schema`'s vector space (None stands for the legacy one)."""
    want = schema or LEGACY_SCHEMA
    return [v for v in enrolled if (v.schema or LEGACY_SCHEMA) == want]


def stale_voices(enrolled: list[EnrolledVoice], schema: str | None) -> list[EnrolledVoice]:
    """Enrolled voices of another embedder: never compared with `schema`'s voiceprints."""
    want = schema or LEGACY_SCHEMA
    return [v for v in enrolled if (v.schema or LEGACY_SCHEMA) != want]


def person_scores(
    voices: dict[str, np.ndarray], enrolled: list[EnrolledVoice], top_k: int = 1
) -> tuple[list[str], list[str], np.ndarray]:
    """(labels, persons, scores): scores[i, j] is the mean of label i's `top_k` best cosine
    similarities to person j's voiceprints."""
    labels = list(voices)
    persons = sorted({voice.person_id for voice in enrolled})
    scores = np.full((len(labels), len(persons)), -1.0)
    if not labels or not persons:
        return labels, persons, scores
    queries = _unit_rows(np.stack([np.asarray(voices[label], np.float64) for label in labels]))
    stored = _unit_rows(np.stack([np.asarray(v.vector, np.float64).ravel() for v in enrolled]))
    sims = queries @ stored.T
    owner = np.array([voice.person_id for voice in enrolled])
    for j, person in enumerate(persons):
        mine = np.sort(sims[:, owner == person], axis=1)[:, ::-1]
        scores[:, j] = mine[:, : max(1, top_k)].mean(axis=1)
    return labels, persons, scores


def name_speakers(
    voices: dict[str, np.ndarray],
    enrolled: list[EnrolledVoice],
    params: NamingParams = DEFAULT_NAMING,
    schema: str | None = None,
) -> list[SpeakerMatch]:
    """One match per label of `voices` (voiceprints of `schema`), in their order; `person_id`
    None where none is sure. Enrolled voices of another schema are left out."""
    enrolled = comparable(enrolled, schema)
    labels, persons, scores = person_scores(voices, enrolled, params.top_k)
    best = scores.max(axis=1) if persons else np.full(len(labels), -1.0)
    # Without a second person there is nothing to be confused with.
    second = np.sort(scores, axis=1)[:, -2] if len(persons) > 1 else np.full(len(labels), -1.0)
    chosen: dict[int, int] = {}
    taken: set[int] = set()
    # Greedy on the best pairs first: each label may only take its own best person (the margin
    # is about that choice), and a person already taken leaves the label unnamed rather than
    # falling back to a less likely person.
    order = np.argsort(-best, kind="stable")
    for i in order:
        if not persons or best[i] < params.threshold or best[i] - second[i] < params.margin:
            continue
        j = int(np.argmax(scores[i]))
        if j not in taken:
            chosen[int(i)] = j
            taken.add(j)
    return [
        SpeakerMatch(
            label=label,
            person_id=persons[chosen[i]] if i in chosen else None,
            score=float(best[i]),
        )
        for i, label in enumerate(labels)
    ]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(np.nan_to_num(x / np.where(norm > 0, norm, 1.0)))
