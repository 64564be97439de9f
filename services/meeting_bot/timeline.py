"""Turns sampled "who is speaking now" observations into the participant timeline."""

from __future__ import annotations

from services.bots.contracts import ParticipantTimeline, SpeakingSpan


class SpeakingTracker:
    def __init__(self, own_name: str) -> None:
        self.own_name = own_name
        self.participants: list[str] = []
        self.spans: list[SpeakingSpan] = []
        self._open: dict[str, float] = {}

    def observe(self, at: float, present: list[str], speaking: list[str]) -> None:
        """One sample at `at` seconds into the recording."""
        for name in present:
            if name != self.own_name and name not in self.participants:
                self.participants.append(name)
        now = {name for name in speaking if name != self.own_name}
        for name in now - self._open.keys():
            self._open[name] = at
            if name not in self.participants:
                self.participants.append(name)
        for name in set(self._open) - now:
            self._close(name, at)

    def _close(self, name: str, at: float) -> None:
        start = self._open.pop(name)
        if at > start:
            self.spans.append(SpeakingSpan(name=name, start=round(start, 2), end=round(at, 2)))

    def finish(self, at: float) -> ParticipantTimeline:
        for name in list(self._open):
            self._close(name, at)
        spans = sorted(self.spans, key=lambda span: (span.start, span.name))
        return ParticipantTimeline(participants=list(self.participants), speaking=spans)
