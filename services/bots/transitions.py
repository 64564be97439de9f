"""Which bot state may follow which: the truth the API keeps whatever a bot reports."""

from __future__ import annotations

from dataclasses import dataclass

from services.bots.contracts import TERMINAL_STATES, BotState

# The happy path; the waiting room is skipped when the host lets everyone straight in.
_NEXT: dict[BotState, frozenset[BotState]] = {
    BotState.scheduled: frozenset({BotState.launching}),
    BotState.launching: frozenset({BotState.joining}),
    BotState.joining: frozenset({BotState.waiting_room, BotState.recording}),
    BotState.waiting_room: frozenset({BotState.recording}),
    BotState.recording: frozenset({BotState.uploading}),
    BotState.uploading: frozenset({BotState.done}),
    BotState.done: frozenset(),
    BotState.failed: frozenset(),
}

# Launched and not finished: these must heartbeat, and count against the concurrency limit.
LIVE_STATES = frozenset(
    {
        BotState.launching,
        BotState.joining,
        BotState.waiting_room,
        BotState.recording,
        BotState.uploading,
    }
)


@dataclass(frozen=True)
class Transition:
    allowed: bool
    # True when the bot is already in that state: nothing to change, not an error.
    repeated: bool = False
    why: str = ""


def check_transition(current: BotState, wanted: BotState) -> Transition:
    if current == wanted:
        return Transition(allowed=True, repeated=True)
    if current in TERMINAL_STATES:
        return Transition(False, why=f"the bot is already {current.value}; it cannot change")
    if wanted == BotState.failed or wanted in _NEXT[current]:
        return Transition(allowed=True)
    return Transition(False, why=f"a bot cannot go from {current.value} to {wanted.value}")
