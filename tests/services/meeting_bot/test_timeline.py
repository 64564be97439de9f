"""Sampled "who is speaking" observations become the participant timeline."""

from __future__ import annotations

from services.meeting_bot.timeline import SpeakingTracker


def test_samples_become_spans_per_speaker_and_the_bot_is_left_out() -> None:
    tracker = SpeakingTracker("Notetaker")
    tracker.observe(0.0, ["Notetaker", "Ann"], [])
    tracker.observe(0.5, ["Notetaker", "Ann", "Ben"], ["Ann", "Notetaker"])
    tracker.observe(1.0, ["Ann", "Ben"], ["Ann", "Ben"])
    tracker.observe(1.5, ["Ann", "Ben"], ["Ben"])
    timeline = tracker.finish(2.0)
    assert timeline.participants == ["Ann", "Ben"]
    assert [(s.name, s.start, s.end) for s in timeline.speaking] == [
        ("Ann", 0.5, 1.5),
        ("Ben", 1.0, 2.0),
    ]


def test_a_speaker_never_listed_as_present_is_still_a_participant() -> None:
    tracker = SpeakingTracker("Notetaker")
    tracker.observe(1.0, [], ["Cy"])
    assert tracker.finish(1.0).participants == ["Cy"]
    assert tracker.finish(1.0).speaking == []  # zero-length spans are dropped
