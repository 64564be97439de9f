"""The labelled set for minutes extraction (benchmarks/extraction_set): shape and grounding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.extraction_set.dataset import (
    Evidence,
    Meeting,
    in_labelled_spans,
    load_meetings,
    normalise,
    quote_found,
    utterances,
)
from benchmarks.extraction_set.render import synth_script


@pytest.fixture(scope="module")
def meetings() -> list[Meeting]:
    return load_meetings()


def _evidence(m: Meeting) -> list[tuple[str, Evidence]]:
    return (
        [(f"decision {d.text!r}", d.evidence) for d in m.decisions]
        + [(f"action {a.task!r}", a.evidence) for a in m.action_items]
        + [(f"distractor {x.text!r}", x.evidence) for x in m.distractors]
    )


def test_size_languages_and_sources(meetings: list[Meeting]) -> None:
    assert len(meetings) >= 20
    assert len({m.id for m in meetings}) == len(meetings)
    by_lang = Counter(m.language for m in meetings)
    assert by_lang["en"] >= 4 and by_lang["ru"] >= 4
    by_source = Counter(m.source for m in meetings)
    assert by_source["qmsum"] >= 12
    scripted = [m for m in meetings if m.source == "scripted"]
    assert sum(m.language == "en" for m in scripted) >= 4
    assert sum(m.language == "ru" for m in scripted) >= 4


def test_every_meeting_has_gold(meetings: list[Meeting]) -> None:
    for m in meetings:
        assert m.decisions or m.action_items, m.id
    assert sum(len(m.decisions) for m in meetings) >= 40
    assert sum(len(m.action_items) for m in meetings) >= 40


def test_distractors_in_at_least_ten_meetings(meetings: list[Meeting]) -> None:
    with_distractors = [m for m in meetings if m.distractors]
    assert len(with_distractors) >= 10
    kinds = Counter(x.kind for m in meetings for x in m.distractors)
    assert set(kinds) == {"suggestion", "rejected", "question", "musing"}


def test_splits_by_meeting(meetings: list[Meeting]) -> None:
    heldout = [m for m in meetings if m.split == "heldout"]
    share = len(heldout) / len(meetings)
    assert 0.25 <= share <= 0.35, share
    # both languages and both sources are held apart
    assert {m.language for m in heldout} == {"en", "ru"}
    assert {m.source for m in heldout} == {"qmsum", "scripted"}


def test_evidence_quotes_are_verbatim(meetings: list[Meeting], data_dir: Path) -> None:
    missing = []
    for m in meetings:
        lines = utterances(m, data_dir)
        for what, ev in _evidence(m):
            if ev.utterance >= len(lines) or not quote_found(ev.quote, lines[ev.utterance].text):
                missing.append(f"{m.id} {what}: {ev.quote!r} not in utterance {ev.utterance}")
    assert not missing, "\n".join(missing)


def test_owners_are_speakers_or_named(meetings: list[Meeting], data_dir: Path) -> None:
    bad = []
    for m in meetings:
        lines = utterances(m, data_dir)
        speakers = {u.speaker for u in lines}
        said = normalise(" ".join(u.text for u in lines))
        for a in m.action_items:
            for owner in [a.owner, *a.co_owners]:
                if owner not in speakers and normalise(owner) not in said:
                    bad.append(f"{m.id}: {owner!r} ({a.task})")
    assert not bad, "\n".join(bad)


def test_scripted_speakers_are_addressed_by_name(meetings: list[Meeting]) -> None:
    """Owners of scripted meetings are names, and each owner's name stem is said in the meeting."""
    for m in meetings:
        if m.script is None:
            continue
        said = normalise(" ".join(t.text for t in m.script.turns))
        for a in m.action_items:
            assert a.owner in m.script.speakers, (m.id, a.owner)
        for name in m.script.speakers:
            # Russian names are inflected ("Ирина" -> "Ирины"): match the stem
            stem = normalise(name)[: max(3, len(name) - 1)]
            assert stem in said, (m.id, name)


def test_scripts_render_as_synth_meeting_scripts(meetings: list[Meeting]) -> None:
    for m in meetings:
        if m.script is None:
            continue
        sc = synth_script(m)
        assert sc["id"] == m.id and len(sc["turns"]) == len(m.script.turns)
        for turn in sc["turns"]:
            voice = sc["speakers"][turn["speaker"]]["voices"][turn["lang"]]
            assert voice.startswith("rhvoice:" if m.language == "ru" else "en"), voice


def test_qmsum_meetings_cite_their_queries_and_file(meetings: list[Meeting]) -> None:
    """QMSum gold comes from named queries; the transcript stays in ../shared/data."""
    for m in meetings:
        if m.source != "qmsum":
            continue
        assert m.queries, m.id
        assert m.transcript.file and m.transcript.file.startswith("summarization/qmsum_")


def test_evidence_lies_in_the_labelled_spans(meetings: list[Meeting], data_dir: Path) -> None:
    """QMSum gold is complete only on the spans that were read; scripts are labelled whole."""
    for m in meetings:
        if m.source == "qmsum":
            assert m.labelled_spans, m.id
            n = len(utterances(m, data_dir))
            assert all(0 <= a <= b < n for a, b in m.labelled_spans), m.id
        else:
            assert m.labelled_spans is None, m.id
        for what, ev in _evidence(m):
            assert in_labelled_spans(m, ev.utterance), (m.id, what, ev.utterance)
