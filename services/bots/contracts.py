"""The bot protocol: the spec a runner starts a bot with, and what the bot reports back over HTTP.

A bot may run as a local process, a Kubernetes Job or an OpenStack server, so it talks to the API
only over HTTP with its own bearer token (`Authorization: Bot <token>`), never through the
database or the broker:

- `POST /v1/bots/{id}/events`: a `BotEvent` (state changes; the API keeps the truth)
- `POST /v1/bots/{id}/heartbeat`: every `heartbeat_seconds`; answers `HeartbeatReply`
  (whether to leave now)
- `POST /v1/bots/{id}/recording`: multipart `file` (the audio) + `timeline` (a
  `ParticipantTimeline` as JSON); the API creates the meeting and runs the pipeline
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

BOT_AUTH_SCHEME = "Bot"


def _now() -> datetime:
    return datetime.now(UTC)


class BotState(StrEnum):
    scheduled = "scheduled"
    launching = "launching"
    joining = "joining"
    waiting_room = "waiting_room"
    recording = "recording"
    uploading = "uploading"
    done = "done"
    failed = "failed"


TERMINAL_STATES = frozenset({BotState.done, BotState.failed})


class FailureReason(StrEnum):
    # The host never let the bot in: the common case, not a system fault.
    not_admitted = "not_admitted"
    meeting_ended = "meeting_ended"
    platform_refused = "platform_refused"
    unreachable = "unreachable"
    crashed = "crashed"


# Failures that are the meeting's doing, not the system's: no error alert for these.
EXPECTED_FAILURES = frozenset(
    {FailureReason.not_admitted, FailureReason.meeting_ended, FailureReason.platform_refused}
)


class BotSpec(BaseModel):
    """Everything a bot needs to run, whatever machine it runs on."""

    model_config = ConfigDict(frozen=True)

    bot_id: UUID
    meeting_url: str
    bot_name: str = "Minuta notetaker"
    # Seconds of recording at most; the bot leaves then.
    max_duration: float = Field(default=3 * 3600, gt=0)
    # None: chosen from the URL (jitsi, google_meet, zoom, teams, else webrtc).
    platform: str | None = None
    api_url: str
    bot_token: str
    heartbeat_seconds: float = Field(default=10, gt=0)
    # How long to wait to be admitted, and how long to stay once everyone else has left.
    admission_timeout: float = Field(default=600, gt=0)
    alone_timeout: float = Field(default=60, gt=0)
    # Ranges the bot's browser may reach besides public addresses (MINUTA_EGRESS_ALLOW_CIDRS).
    egress_allow_cidrs: list[str] = Field(default_factory=list)


class BotEvent(BaseModel):
    state: BotState
    reason: FailureReason | None = None
    detail: str | None = None
    at: datetime = Field(default_factory=_now)


class HeartbeatReply(BaseModel):
    # Set when a user asked the bot to leave (DELETE /v1/bots/{id}): stop, upload what you have.
    leave: bool = False


class SpeakingSpan(BaseModel):
    name: str
    start: float  # seconds from the start of the recording
    end: float


class ParticipantTimeline(BaseModel):
    """Who was in the meeting and, when the page shows it, who spoke when."""

    participants: list[str] = []
    speaking: list[SpeakingSpan] = []
