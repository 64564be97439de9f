"""VectorStore on real e5 vectors of real meeting text, on both embedded backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.results import Minutes, Segment
from ml_controller.vectors.chunks import ChunkParams
from ml_controller.vectors.models import SearchQuery
from ml_controller.vectors.store import VectorStore

from .conftest import meeting_result, qmsum_meeting

JAN = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
MAR = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def _index_two_tenants(store: VectorStore, data_dir: Path) -> None:
    minutes = Minutes(
        language="en",
        summary="Kick-off of the remote control design project.",
        decisions=["The remote control will cost at most twelve euros fifty."],
    )
    store.index_meeting(
        "acme", "m1", meeting_result(qmsum_meeting(data_dir, "ES2006a", 60), minutes=minutes), JAN
    )
    store.index_meeting("acme", "m2", meeting_result(qmsum_meeting(data_dir, "Bed002", 60)), MAR)
    # Another tenant reuses the meeting id "m1" for a different meeting.
    store.index_meeting("globex", "m1", meeting_result(qmsum_meeting(data_dir, "TS3010a", 60)), JAN)


def test_tenant_isolation_and_filters(store: VectorStore, data_dir: Path) -> None:
    _index_two_tenants(store, data_dir)
    acme = store.search(SearchQuery("acme", "price of the remote control", limit=50))
    globex = store.search(SearchQuery("globex", "price of the remote control", limit=50))
    assert acme and globex
    acme_texts = {h.text for h in acme}
    assert not acme_texts & {h.text for h in globex}

    # An exact acme passage is the best acme hit, and never shows up for globex.
    probe = next(h for h in acme if h.kind == "transcript" and len(h.text.split()) > 30)
    assert store.search(SearchQuery("acme", probe.text, limit=1))[0].text == probe.text
    assert probe.text not in {
        h.text for h in store.search(SearchQuery("globex", probe.text, limit=50))
    }
    assert store.search(SearchQuery("nobody", "remote control")) == []

    only_m2 = store.search(SearchQuery("acme", "recording equipment", meeting_ids=["m2"], limit=20))
    assert only_m2 and {h.meeting_id for h in only_m2} == {"m2"}
    assert store.search(SearchQuery("acme", "anything", meeting_ids=[])) == []

    speaker = "Project Manager"
    by_speaker = store.search(SearchQuery("acme", "project plan", speaker=speaker, limit=20))
    assert by_speaker and all(speaker in h.speakers for h in by_speaker)
    assert {h.meeting_id for h in by_speaker} == {"m1"}  # Bed002 has no project manager

    in_march = store.search(
        SearchQuery("acme", "meeting", date_from=datetime(2026, 2, 1, tzinfo=UTC), limit=50)
    )
    assert in_march and {h.meeting_id for h in in_march} == {"m2"}
    assert all(h.meeting_date == MAR for h in in_march)
    january = store.search(SearchQuery("acme", "meeting", date_to=datetime(2026, 1, 31), limit=50))
    assert january and {h.meeting_id for h in january} == {"m1"}

    decisions = store.search(SearchQuery("acme", "how much may it cost", kinds=["minutes"]))
    assert decisions[0].text == "Decision: The remote control will cost at most twelve euros fifty."
    assert all(h.kind == "minutes" for h in decisions)


def test_reindexing_is_idempotent_and_drops_leftovers(store: VectorStore, data_dir: Path) -> None:
    turns = qmsum_meeting(data_dir, "ES2006a", 80)
    first = store.index_meeting("acme", "m1", meeting_result(turns), JAN)
    counted = store.count_points("acme", "m1")["chunks"]
    assert counted == first.points > 3
    again = store.index_meeting("acme", "m1", meeting_result(turns), JAN)
    assert again.points == first.points
    assert store.count_points("acme", "m1")["chunks"] == counted

    shorter = store.index_meeting("acme", "m1", meeting_result(turns[:20]), JAN)
    assert shorter.points < first.points
    assert store.count_points("acme", "m1")["chunks"] == shorter.points
    texts = {h.text for h in store.search(SearchQuery("acme", "remote control", limit=100))}
    assert len(texts) == shorter.points


def test_delete_meeting_removes_chunks_and_voiceprints(store: VectorStore, data_dir: Path) -> None:
    _index_two_tenants(store, data_dir)
    store.add_voiceprints("acme", "m1", {"Marketing": [1.0] + [0.0] * 255}, {"Marketing": None})
    store.add_voiceprints("globex", "m1", {"Marketing": [0.0, 1.0] + [0.0] * 254}, {})
    assert store.count_points("acme", "m1") != {"chunks": 0, "voiceprints": 0}

    store.delete_meeting("acme", "m1")
    assert store.count_points("acme", "m1") == {"chunks": 0, "voiceprints": 0}
    assert {h.meeting_id for h in store.search(SearchQuery("acme", "remote", limit=50))} == {"m2"}
    # The other tenant's meeting with the same id is untouched.
    assert store.count_points("globex", "m1")["chunks"] > 0
    assert store.count_points("globex", "m1")["voiceprints"] == 1


# Real sentences on distinct subjects; each Russian line says what the English one says.
BILINGUAL = [
    (
        "We move to the new office on Lenin Street at the beginning of April.",
        "В начале апреля мы переезжаем в новый офис на улице Ленина.",
    ),
    (
        "The marketing budget for the next quarter was cut by twenty percent.",
        "Маркетинговый бюджет на следующий квартал сократили на двадцать процентов.",
    ),
    (
        "Our database backups failed three nights in a row because the disk was full.",
        "Резервные копии базы данных не создавались три ночи подряд, потому что диск был заполнен.",
    ),
    (
        "We are hiring two more Python developers for the mobile team.",
        "Мы нанимаем ещё двух разработчиков на Python в мобильную команду.",
    ),
]


def _one_line_per_speaker(lines: list[str]) -> list[dict[str, str]]:
    return [{"speaker": f"S{i + 1}", "content": line} for i, line in enumerate(lines)]


@pytest.mark.parametrize("direction", ["ru_query_en_meeting", "en_query_ru_meeting"])
def test_search_crosses_languages(store: VectorStore, direction: str) -> None:
    store.chunk_params = ChunkParams(max_words=60, min_words=1)  # one chunk per line
    en = [e for e, _ in BILINGUAL]
    ru = [r for _, r in BILINGUAL]
    stored, queries, language = (
        (en, ru, "en") if direction == "ru_query_en_meeting" else (ru, en, "ru")
    )
    store.index_meeting(
        "acme", "bilingual", meeting_result(_one_line_per_speaker(stored), language=language)
    )
    for i, query in enumerate(queries):
        hits = store.search(SearchQuery("acme", query, limit=4))
        assert len(hits) == len(stored)
        assert hits[0].text == stored[i], (query, hits[0].text)
        assert hits[0].speaker == f"S{i + 1}"
        assert hits[0].score > hits[1].score


def test_speaker_names_and_times_come_back_with_hits(store: VectorStore) -> None:
    result = meeting_result(
        [{"speaker": "S1", "content": BILINGUAL[2][0]}], names={"S1": "Ivan Petrov"}
    )
    result.segments[0] = Segment(start=61.5, end=66.0, speaker="S1", text=BILINGUAL[2][0])
    store.index_meeting("acme", "ops", result)
    hit = store.search(SearchQuery("acme", "backup failures"))[0]
    assert (hit.meeting_id, hit.start, hit.end, hit.speaker) == ("ops", 61.5, 66.0, "S1")
    assert hit.speaker_name == "Ivan Petrov" and hit.meeting_date is None


def test_empty_tenant_is_refused(store: VectorStore) -> None:
    with pytest.raises(ValueError):
        store.search(SearchQuery("", "anything"))
    with pytest.raises(ValueError):
        store.delete_meeting("", "m1")
