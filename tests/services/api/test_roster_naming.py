"""Matching a bot's speaking timeline to the diarized speakers: clear matches only, one-to-one."""

from __future__ import annotations

from core.results import Segment
from services.api.roster_naming import RosterMatch, match_roster, overlaps, participant_spans
from services.bots.contracts import ParticipantTimeline, SpeakingSpan


def _segments(*rows: tuple[str, float, float]) -> list[Segment]:
    return [Segment(speaker=label, start=start, end=end, text="…") for label, start, end in rows]


def _timeline(
    *rows: tuple[str, float, float], participants: list[str] | None = None
) -> ParticipantTimeline:
    spans = [SpeakingSpan(name=name, start=start, end=end) for name, start, end in rows]
    names = participants if participants is not None else sorted({s.name for s in spans})
    return ParticipantTimeline(participants=names, speaking=spans)


def _named(matches: list[RosterMatch]) -> dict[str, str]:
    return {m.label: m.name for m in matches}


def test_a_clear_match_names_each_speaker() -> None:
    segments = _segments(("S0", 0, 10), ("S1", 10.5, 20), ("S0", 21, 25))
    # The page's talking events lag the audio a little: overlaps need not be exact.
    timeline = _timeline(("Alice", 0.4, 10.3), ("Bob", 10.8, 20.2), ("Alice", 21.2, 25.5))
    matches = match_roster(segments, timeline)
    assert _named(matches) == {"S0": "Alice", "S1": "Bob"}
    alice = next(m for m in matches if m.name == "Alice")
    assert abs(alice.overlap - 13.4) < 1e-6 and alice.share == 1.0


def test_an_ambiguous_speaker_is_left_unnamed() -> None:
    # S0 spoke while Alice and Bob were both shown talking, about as much with each.
    segments = _segments(("S0", 0, 10), ("S1", 20, 30))
    timeline = _timeline(("Alice", 0, 5.5), ("Bob", 4.5, 10), ("Bob", 20, 30))
    assert _named(match_roster(segments, timeline)) == {"S1": "Bob"}
    # An exact tie names nobody either.
    tie = _timeline(("Alice", 0, 5), ("Bob", 5, 10))
    assert match_roster(_segments(("S0", 0, 10)), tie) == []


def test_too_little_overlap_is_no_evidence() -> None:
    segments = _segments(("S0", 0, 1.5), ("S1", 5, 30))
    timeline = _timeline(("Alice", 0, 1.5), ("Bob", 5, 30))
    assert _named(match_roster(segments, timeline)) == {"S1": "Bob"}


def test_the_bots_own_name_is_never_given() -> None:
    segments = _segments(("S0", 0, 10), ("S1", 10, 20))
    # The bot's own tile can light up (its join chime, echo): never a speaker's name.
    timeline = _timeline(("Minuta  notetaker", 0, 10), ("Bob", 10, 20))
    assert _named(match_roster(segments, timeline, "minuta notetaker")) == {"S1": "Bob"}
    assert "Minuta notetaker" not in participant_spans(timeline, "Minuta notetaker")


def test_more_participants_than_speakers() -> None:
    segments = _segments(("S0", 0, 10), ("S1", 10, 20))
    timeline = _timeline(
        ("Alice", 0, 10),
        ("Bob", 10, 20),
        ("Carol", 20, 21),  # spoke where no diarized speech is
        participants=["Alice", "Bob", "Carol", "Dave"],  # Dave never spoke
    )
    assert _named(match_roster(segments, timeline)) == {"S0": "Alice", "S1": "Bob"}


def test_one_name_for_one_speaker_when_diarization_splits_a_person() -> None:
    # Alice was split into S0 and S2: the label with more overlap gets her name.
    segments = _segments(("S0", 0, 10), ("S2", 10, 14), ("S1", 14, 24))
    timeline = _timeline(("Alice", 0, 14), ("Bob", 14, 24))
    assert _named(match_roster(segments, timeline)) == {"S0": "Alice", "S1": "Bob"}


def test_overlapping_speech_and_repeated_spans_count_once() -> None:
    # The same span reported twice, and crosstalk where both were shown talking.
    segments = _segments(("S0", 0, 10), ("S1", 8, 20))
    timeline = _timeline(("Alice", 0, 10), ("Alice", 0, 10), ("Bob", 8, 20))
    table = overlaps(segments, participant_spans(timeline))
    assert table["S0"] == {"Alice": 10.0, "Bob": 2.0}
    assert table["S1"] == {"Alice": 2.0, "Bob": 12.0}
    assert _named(match_roster(segments, timeline)) == {"S0": "Alice", "S1": "Bob"}


def test_no_timeline_names_nobody() -> None:
    assert match_roster(_segments(("S0", 0, 10)), ParticipantTimeline()) == []
