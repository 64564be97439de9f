"""Typed results passed between the pipeline's stages (before they become a MeetingResult), and
what the pipeline hands the worker beside the result.

Times are seconds from the start of the recording.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from core.results import MeetingResult, Word


class SpeechRegion(BaseModel):
    """A stretch of audio that voice activity detection judged to contain speech."""

    start: float
    end: float


class AsrSegment(BaseModel):
    """One decoded Whisper segment before speakers are known."""

    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)


class Transcription(BaseModel):
    language: str
    language_probability: float
    duration: float
    segments: list[AsrSegment]


class SpeakerTurn(BaseModel):
    """A diarization turn; turns of different speakers may overlap."""

    start: float
    end: float
    speaker: str


class Diarization(BaseModel):
    turns: list[SpeakerTurn]
    speakers: list[str]
    # Label -> L2-normalised voice embedding (centroid) of that speaker in this recording;
    # empty when the backend gives none. Only for naming speakers across meetings.
    embeddings: dict[str, list[float]] = Field(default_factory=dict)
    # The vector space of `embeddings` ("campplus-192-v1", "ge2e-256-v1", "pyannote-…"):
    # voiceprints of different schemas are never compared.
    embedding_schema: str | None = None


class Voiceprints(BaseModel):
    """A meeting's speakers' voices, for naming them in later meetings: biometric data that only
    the vector store keeps, never part of the MeetingResult anyone reads."""

    # The speaker embedder's vector space (Diarization.embedding_schema); None when no vectors.
    embedding_schema: str | None = None
    # Transcript speaker label ("S1") -> L2-normalised voice embedding.
    vectors: dict[str, list[float]] = Field(default_factory=dict)


class PipelineOutput(BaseModel):
    """One processed recording: the public result and, apart from it, its voiceprints."""

    result: MeetingResult
    voiceprints: Voiceprints = Field(default_factory=Voiceprints)
