from __future__ import annotations

from core.results import Word
from ml_controller.align import BOUNDARY_RULES, assign_speakers, build_lines, renumber_speakers
from ml_controller.types import AsrSegment, Diarization, SpeakerTurn


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


def _timed(text: str, start: float, gaps: dict[int, float] | None = None) -> list[Word]:
    """Words of 0.3 s each, 0.05 s apart unless `gaps` says otherwise after word i."""
    words, t = [], start
    for i, token in enumerate(text.split()):
        words.append(Word(start=round(t, 3), end=round(t + 0.3, 3), word=token))
        t += 0.3 + (gaps or {}).get(i, 0.05)
    return words


def _diarized(*turns: tuple[float, float, str]) -> Diarization:
    return Diarization(
        turns=[SpeakerTurn(start=a, end=b, speaker=s) for a, b, s in turns],
        speakers=sorted({s for _, _, s in turns}),
    )


def test_a_change_inside_a_phrase_moves_to_the_sentence_end_before_it() -> None:
    # "…everything." then a pause, then the other person's sentence; the diarization's change
    # comes three words late, inside "All the database migrations | passed on …".
    words = _timed(
        "We checked everything. All the database migrations passed on the staging server.",
        0.0,
        gaps={2: 0.6},
    )
    late_change = words[6].end + 0.02  # after "migrations"
    seg = AsrSegment(start=0, end=words[-1].end, text="", words=words)
    diarization = _diarized((0, late_change, "A"), (late_change, 9, "B"))
    # By default each word keeps the speaker covering it: the change stays where it was heard.
    assert [w.speaker for w in assign_speakers([seg], diarization)][6:8] == ["A", "B"]
    tagged = assign_speakers([seg], diarization, BOUNDARY_RULES)
    lines = build_lines(tagged)
    assert [(line.speaker, line.text) for line in lines] == [
        ("A", "We checked everything."),
        ("B", "All the database migrations passed on the staging server."),
    ]


def test_a_changes_never_moves_across_a_real_pause_or_far_away() -> None:
    words = _timed("one two three four five six", 0.0, gaps={2: 0.5})
    seg = AsrSegment(start=0, end=words[-1].end, text="", words=words)
    # The change sits exactly at the pause: it stays.
    cut = words[2].end + 0.25
    tagged = assign_speakers([seg], _diarized((0, cut, "A"), (cut, 9, "B")), BOUNDARY_RULES)
    assert [w.speaker for w in tagged] == ["A", "A", "A", "B", "B", "B"]


def test_a_one_word_blip_inside_a_phrase_goes_back_to_its_speaker() -> None:
    words = _timed("so the plan for next week is fixed", 0.0)
    seg = AsrSegment(start=0, end=words[-1].end, text="", words=words)
    blip = (words[4].start, words[4].end)  # "next" heard as someone else
    diarization = _diarized((0, blip[0], "A"), (blip[0], blip[1], "B"), (blip[1], 9, "A"))
    assert [w.speaker for w in assign_speakers([seg], diarization)][4] == "B"  # by default
    tagged = assign_speakers([seg], diarization, BOUNDARY_RULES)
    assert {w.speaker for w in tagged} == {"A"}


def test_words_spoken_over_a_continuing_speaker_make_an_overlapping_line() -> None:
    first = _timed("I think we should ship on Friday", 0.0)
    reply = _timed("yes", first[-1].end + 0.4)
    rest = _timed("after the last review", reply[-1].end + 0.4)
    words = first + reply + rest
    seg = AsrSegment(start=0, end=words[-1].end, text="", words=words)
    # A talks throughout; B's "yes" overlaps A's turn.
    diarization = _diarized(
        (0, rest[-1].end, "A"), (reply[0].start - 0.05, reply[0].end + 0.05, "B")
    )
    tagged = assign_speakers([seg], diarization)
    assert [w.speaker for w in tagged if w.word == "yes"] == ["B"]
    lines = build_lines(tagged, diarization=diarization)
    assert [(line.speaker, line.text) for line in lines] == [
        ("A", "I think we should ship on Friday after the last review"),
        ("B", "yes"),
    ]
    a_line, b_line = lines
    assert a_line.start < b_line.start < b_line.end < a_line.end  # overlapping turns
    # Without the diarization's overlap the same words are three consecutive lines.
    assert [line.speaker for line in build_lines(tagged)] == ["A", "B", "A"]
