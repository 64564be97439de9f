"""Chunking a meeting: speaker runs of a useful length, long turns split, minutes as points."""

from __future__ import annotations

from pathlib import Path

from core.results import ActionItem, Evidence, Minutes, MinutesTopic, Segment, Speaker
from ml_controller.vectors.chunks import (
    ChunkParams,
    meeting_chunks,
    minutes_chunks,
    transcript_chunks,
)

from .conftest import meeting_result, qmsum_meeting


def _words(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def test_short_interjections_join_neighbours_and_turns_split_when_long_enough() -> None:
    segments = [
        Segment(start=0, end=10, speaker="A", text=_words(50, "a")),
        Segment(start=10, end=11, speaker="B", text="OK ."),
        Segment(start=11, end=12, speaker="C", text="Right , yes ."),
        Segment(start=12, end=20, speaker="A", text=_words(40, "x")),
        Segment(start=20, end=30, speaker="B", text=_words(45, "b")),
    ]
    chunks = transcript_chunks(segments, [Speaker(id="A", name="Anna")], ChunkParams(120, 40, 90))
    # A's 50 words close a chunk at the change to B; B's and C's interjections ride along with
    # A's second turn until 40 words are reached; then B's long turn starts its own chunk.
    assert [c.speakers for c in chunks] == [["A"], ["B", "C", "A"], ["B"]]
    assert [c.speaker for c in chunks] == ["A", "A", "B"]
    assert chunks[0].speaker_name == "Anna" and chunks[2].speaker_name is None
    assert [(c.start, c.end) for c in chunks] == [(0, 10), (10, 20), (20, 30)]
    assert [c.index for c in chunks] == [0, 1, 2]


def test_long_segment_is_cut_evenly_with_interpolated_times() -> None:
    segment = Segment(start=100, end=130, speaker="A", text=_words(300))
    chunks = transcript_chunks([segment], [], ChunkParams(max_words=120, min_words=40))
    assert [len(c.text.split()) for c in chunks] == [100, 100, 100]
    assert [(c.start, c.end) for c in chunks] == [(100, 110), (110, 120), (120, 130)]
    assert " ".join(c.text for c in chunks) == segment.text


def test_chunk_never_spans_more_than_max_seconds() -> None:
    segments = [Segment(start=i * 20, end=i * 20 + 5, speaker="A", text="yes") for i in range(10)]
    chunks = transcript_chunks(
        segments, [], ChunkParams(max_words=120, min_words=40, max_seconds=45)
    )
    assert all(c.end is not None and c.start is not None and c.end - c.start <= 45 for c in chunks)
    assert sum(len(c.text.split()) for c in chunks) == 10


def test_real_transcript_keeps_every_word_within_bounds(data_dir: Path) -> None:
    result = meeting_result(qmsum_meeting(data_dir, "Bed002", 300))
    params = ChunkParams()
    chunks = transcript_chunks(result.segments, result.speakers, params)
    assert all(len(c.text.split()) <= params.max_words for c in chunks)
    assert (
        " ".join(c.text for c in chunks).split()
        == " ".join(s.text for s in result.segments).split()
    )
    # Chunks are far fewer than QMSum's many one-word turns, and each has some substance.
    assert len(chunks) < len(result.segments) / 2
    lengths = sorted(len(c.text.split()) for c in chunks)
    assert lengths[len(lengths) // 2] >= params.min_words


def test_minutes_become_their_own_points() -> None:
    minutes = Minutes(
        language="en",
        title="Remote control kick-off",
        summary="The team agreed on a yellow remote.",
        topics=[MinutesTopic(title="Colour", start=10, end=50, summary="Yellow wins.")],
        decisions=["The remote will be yellow."],
        action_items=[
            ActionItem(
                owner="S2", task="Draft the case", due="Friday", evidence=Evidence(start=40, end=44)
            )
        ],
    )
    chunks = minutes_chunks(minutes, first_index=7)
    assert [c.index for c in chunks] == [7, 8, 9, 10]
    assert all(c.kind == "minutes" for c in chunks)
    assert chunks[0].text.startswith("Remote control kick-off. The team agreed")
    assert chunks[3].text == "Action item for S2: Draft the case (due Friday)"
    assert (chunks[3].start, chunks[3].end, chunks[3].speaker) == (40, 44, "S2")
    assert (chunks[1].start, chunks[1].end) == (10, 50)
    assert minutes_chunks(Minutes.empty("en")) == []


def test_meeting_chunks_numbers_minutes_after_transcript(data_dir: Path) -> None:
    minutes = Minutes(language="en", summary="A summary.", decisions=["Go."])
    result = meeting_result(qmsum_meeting(data_dir, "ES2006a", 40), minutes=minutes)
    chunks = meeting_chunks(result)
    kinds = [c.kind for c in chunks]
    assert kinds[-2:] == ["minutes", "minutes"] and set(kinds[:-2]) == {"transcript"}
    assert [c.index for c in chunks] == list(range(len(chunks)))
