"""The meeting result: what `minuta process --format json` writes and the API serves.

Times are seconds from the start of the recording. Other parts rely on these models (API
results, search, web UI, exports), so fields are only ever added, never renamed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Word(BaseModel):
    start: float
    end: float
    word: str
    probability: float | None = None
    speaker: str | None = None


class Speaker(BaseModel):
    id: str
    name: str | None = None
    # The tenant's person this speaker was recognised as (or enrolled to) by voice.
    person_id: str | None = None
    # Who gave the name, as the API shows it: "user", "voice", "platform" (the meeting's own
    # display name, from a bot's timeline) or "proposal"; None when unnamed. The worker sends None.
    named_by: str | None = None


class Segment(BaseModel):
    """A transcript line: consecutive words of one speaker."""

    start: float
    end: float
    speaker: str
    text: str
    words: list[Word] = Field(default_factory=list)


class Topic(BaseModel):
    start: float
    end: float
    title: str = ""
    summary: str = ""


class Evidence(BaseModel):
    start: float
    end: float


class ActionItem(BaseModel):
    owner: str
    task: str
    due: str | None = None
    evidence: Evidence


class MinutesTopic(BaseModel):
    title: str
    start: float
    end: float
    summary: str = ""


class Minutes(BaseModel):
    """The minutes schema of DESIGN.md; the LLM output is validated against its JSON schema."""

    model_config = ConfigDict(extra="forbid")

    language: str
    title: str = ""
    summary: str = ""
    topics: list[MinutesTopic] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)

    @classmethod
    def empty(cls, language: str) -> Minutes:
        return cls(language=language)


class AudioInfo(BaseModel):
    duration: float
    language: str
    language_probability: float | None = None
    source: str | None = None


class MeetingResult(BaseModel):
    # Said outright: stored results and v1 job_completed messages hold keys no longer here.
    model_config = ConfigDict(extra="ignore")

    audio: AudioInfo
    speakers: list[Speaker]
    segments: list[Segment]
    topics: list[Topic]
    minutes: Minutes
    timings: dict[str, float] = Field(default_factory=dict)
    # The speaker embedder (its vector space, "campplus-192-v1") this meeting's speakers were
    # embedded with; None when none was. The API tells people whose voices only an older
    # embedder knows (never compared with the current one's) from the recognisable ones.
    speaker_embedding_schema: str | None = None
    # No voiceprints here: they are biometric, for the vector store only, and travel beside the
    # result inside the ML controller (ml_controller.types.Voiceprints).
