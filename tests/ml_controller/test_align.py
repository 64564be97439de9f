from __future__ import annotations

from ml_controller.align import assign_speakers, build_lines, renumber_speakers
from ml_controller.types import AsrSegment, Diarization, SpeakerTurn, Word


def _segment(words: list[tuple[float, float, str]]) -> AsrSegment:
    return AsrSegment(
        start=words[0][0],
        end=words[-1][1],
        text=" ".join(w for _, _, w in words),
        words=[Word(start=a, end=b, word=w) for a, b, w in words],
    )


def test_every_word_gets_the_speaker_it_overlaps_most() -> None:
    diarization = Diarization(
        turns=[
            SpeakerTurn(start=0.0, end=2.1, speaker="S1"),
            SpeakerTurn(start=1.9, end=4.0, speaker="S2"),  # overlap kept in diarization
        ],
        speakers=["S1", "S2"],
    )
    seg = _segment(
        [(0.1, 0.5, "hello"), (0.6, 1.0, "there."), (2.0, 2.6, "hi"), (2.7, 3.5, "back")]
    )
    words = assign_speakers([seg], diarization)
    assert [w.speaker for w in words] == ["S1", "S1", "S2", "S2"]


def test_words_outside_any_turn_take_the_nearest_and_no_turns_mean_one_speaker() -> None:
    diarization = Diarization(
        turns=[
            SpeakerTurn(start=0, end=1, speaker="S2"),
            SpeakerTurn(start=10, end=11, speaker="S1"),
        ],
        speakers=["S2", "S1"],
    )
    seg = _segment([(1.5, 1.8, "late"), (8.5, 9.0, "early")])
    assert [w.speaker for w in assign_speakers([seg], diarization)] == ["S2", "S1"]
    alone = assign_speakers([seg], Diarization(turns=[], speakers=[]))
    assert {w.speaker for w in alone} == {"S1"}


def test_lines_break_at_speaker_change_and_long_pause_and_are_renumbered() -> None:
    words = [
        Word(start=0, end=0.5, word="a", speaker="S3"),
        Word(start=0.6, end=1.0, word="b", speaker="S3"),
        Word(start=1.1, end=1.5, word="c", speaker="S1"),
        Word(start=5.0, end=5.5, word="d", speaker="S1"),
    ]
    lines, speakers = renumber_speakers(build_lines(words))
    assert [(line.speaker, line.text) for line in lines] == [
        ("S1", "a b"),
        ("S2", "c"),
        ("S2", "d"),
    ]
    assert [s.id for s in speakers] == ["S1", "S2"]
    assert all(w.speaker == line.speaker for line in lines for w in line.words)
