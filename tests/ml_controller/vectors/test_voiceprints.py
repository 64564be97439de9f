"""Voiceprints: stored per meeting and label, enrolled to persons, merged and forgotten."""

from __future__ import annotations

import numpy as np

from ml_controller.vectors.models import SearchQuery
from ml_controller.vectors.store import VectorStore

from .conftest import meeting_result

DIM = 256  # the CPU diarizer's GE2E embeddings


def _voices(seed: int, labels: list[str]) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    out = {}
    for label in labels:
        v = rng.normal(size=DIM)
        out[label] = (v / np.linalg.norm(v)).tolist()
    return out


def _by_person(store: VectorStore, tenant: str) -> dict[str, list[np.ndarray]]:
    found: dict[str, list[np.ndarray]] = {}
    for voice in store.enrolled_voices(tenant):
        found.setdefault(voice.person_id, []).append(voice.vector)
    return found


def test_enroll_merge_and_delete_person(store: VectorStore) -> None:
    m1 = _voices(1, ["S1", "S2", "S3"])
    m2 = _voices(2, ["S1", "S2"])
    store.add_voiceprints("acme", "m1", m1, {"S1": "p-anna", "S2": None, "S3": None})
    store.add_voiceprints("acme", "m2", m2, {"S1": "p-boris", "S2": None})
    store.add_voiceprints("globex", "m1", _voices(3, ["S1"]), {"S1": "p-anna"})
    assert store.count_points("acme") == {"chunks": 0, "voiceprints": 5}

    enrolled = _by_person(store, "acme")
    assert set(enrolled) == {"p-anna", "p-boris"}  # voiceprints without a person are not enrolled
    assert len(enrolled["p-anna"]) == 1
    # The stored vector is the one given (cosine storage keeps unit vectors as they are).
    assert float(enrolled["p-anna"][0] @ np.asarray(m1["S1"])) > 0.9999
    assert enrolled["p-anna"][0].dtype == np.float32 and enrolled["p-anna"][0].shape == (DIM,)

    assert store.enroll("acme", "m1", "S2", "p-boris") is True
    assert store.enroll("acme", "m1", "S9", "p-boris") is False  # no such label
    assert store.enroll("acme", "m404", "S1", "p-boris") is False  # no such meeting
    assert store.enroll("globex", "m2", "S1", "p-boris") is False  # another tenant's meeting
    assert len(_by_person(store, "acme")["p-boris"]) == 2

    # A cleared name: the print stays, unnamed; forgetting it again changes nothing more.
    assert store.forget_speaker("acme", "m1", "S2") is True
    assert len(_by_person(store, "acme")["p-boris"]) == 1
    assert store.count_points("acme")["voiceprints"] == 5
    assert store.forget_speaker("acme", "m1", "S2") is True
    assert store.forget_speaker("acme", "m1", "S9") is False
    assert store.forget_speaker("globex", "m2", "S1") is False
    assert store.enroll("acme", "m1", "S2", "p-boris") is True

    assert store.merge_persons("acme", "p-boris", "p-anna") == 2
    assert {k: len(v) for k, v in _by_person(store, "acme").items()} == {"p-anna": 3}
    assert store.merge_persons("acme", "p-boris", "p-anna") == 0
    assert _by_person(store, "globex").keys() == {"p-anna"}

    assert store.delete_person("acme", "p-anna") == 3
    assert store.enrolled_voices("acme") == []
    assert store.count_points("acme")["voiceprints"] == 2  # the unnamed ones remain
    assert len(store.enrolled_voices("globex")) == 1  # the other tenant's person is untouched


def test_rerun_of_a_meeting_replaces_its_voiceprints(store: VectorStore) -> None:
    store.add_voiceprints("acme", "m1", _voices(1, ["S1", "S2", "S3"]), {"S1": "p-anna"})
    store.add_voiceprints("acme", "m1", _voices(4, ["S1", "S2"]), {"S1": "p-anna"})
    assert store.count_points("acme", "m1")["voiceprints"] == 2
    store.add_voiceprints("acme", "m1", {}, {})
    assert store.count_points("acme", "m1")["voiceprints"] == 0


def test_enrolling_names_the_speakers_chunks(store: VectorStore) -> None:
    turns = [
        {
            "speaker": "S1",
            "content": "We are hiring two more Python developers for the mobile team.",
        },
        {
            "speaker": "S2",
            "content": "The marketing budget for the next quarter was cut by twenty percent.",
        },
    ]
    store.chunk_params = store.chunk_params.__class__(max_words=60, min_words=1)
    store.index_meeting("acme", "m1", meeting_result(turns))
    store.add_voiceprints("acme", "m1", _voices(5, ["S1", "S2"]), {})
    assert store.search(SearchQuery("acme", "hiring", person_id="p-anna")) == []

    assert store.enroll("acme", "m1", "S1", "p-anna")
    hits = store.search(SearchQuery("acme", "hiring", person_id="p-anna"))
    assert [h.speaker for h in hits] == ["S1"] and hits[0].person_id == "p-anna"

    store.merge_persons("acme", "p-anna", "p-anya")
    assert store.search(SearchQuery("acme", "hiring", person_id="p-anna")) == []
    assert [h.speaker for h in store.search(SearchQuery("acme", "hiring", person_id="p-anya"))] == [
        "S1"
    ]

    store.delete_person("acme", "p-anya")
    assert store.search(SearchQuery("acme", "hiring", person_id="p-anya")) == []
    assert store.search(SearchQuery("acme", "hiring"))[0].person_id is None


def _unit_voices(seed: int, labels: list[str], dim: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {
        label: (v / np.linalg.norm(v)).tolist() for label in labels for v in [rng.normal(size=dim)]
    }


def test_voiceprints_of_two_embedders_live_apart_and_old_ones_are_stale(
    store: VectorStore,
) -> None:
    new = "campplus-192-v1"
    # A meeting from before the upgrade: GE2E prints, no schema recorded, one named.
    store.add_voiceprints("acme", "old", _unit_voices(5, ["S1", "S2"], 256), {"S1": "p-anna"})
    # After it: CAM++ prints (another size) in the same store, one named.
    store.add_voiceprints("acme", "new", _unit_voices(6, ["S1"], 192), {"S1": "p-boris"}, new)
    assert store.count_points("acme")["voiceprints"] == 3

    current = store.enrolled_voices("acme", new)
    assert [(v.person_id, v.schema, v.vector.shape) for v in current] == [("p-boris", new, (192,))]
    legacy = store.enrolled_voices("acme")
    assert [(v.person_id, v.vector.shape) for v in legacy] == [("p-anna", (256,))]
    # Anna's only print is an old one: stale for the new embedder, and counted as such.
    assert store.stale_voiceprints("acme", new) == 1
    assert store.stale_voiceprints("acme", None) == 1  # and Boris's, seen from the old side

    # Naming, merging and forgetting reach prints of every embedder.
    assert store.enroll("acme", "old", "S2", "p-boris") is True
    assert store.merge_persons("acme", "p-boris", "p-anna") == 2
    assert store.delete_person("acme", "p-anna") == 3
    store.delete_meeting("acme", "new")
    store.delete_meeting("acme", "old")
    assert store.count_points("acme")["voiceprints"] == 0


def test_a_new_run_of_a_meeting_replaces_its_prints_of_the_old_embedder(store: VectorStore) -> None:
    store.add_voiceprints("acme", "m1", _unit_voices(7, ["S1", "S2"], 256), {})
    store.add_voiceprints("acme", "m1", _unit_voices(8, ["S1"], 192), {}, "campplus-192-v1")
    assert store.count_points("acme", "m1")["voiceprints"] == 1


def test_similar_voices_are_the_tenants_of_one_schema_outside_the_meeting(
    store: VectorStore,
) -> None:
    new = "campplus-192-v1"
    voices = _unit_voices(7, ["S1", "S2"], 192)
    store.add_voiceprints("acme", "named", voices, {}, new)
    # The same voices elsewhere: another meeting (found), another tenant, another schema.
    store.add_voiceprints("acme", "earlier", {"S3": voices["S1"], "S4": voices["S2"]}, {}, new)
    store.add_voiceprints("globex", "theirs", {"S1": voices["S1"]}, {}, new)
    store.add_voiceprints("acme", "other-model", {"S1": voices["S1"]}, {}, "pyannote-v1")

    schema, vector = store.voiceprint_of("acme", "named", "S1") or (None, np.zeros(0))
    assert schema == new and np.allclose(vector, voices["S1"], atol=1e-6)
    assert store.voiceprint_of("acme", "named", "S9") is None
    assert store.voiceprint_of("globex", "named", "S1") is None

    hits = store.similar_voices("acme", new, vector, exclude_meeting="named")
    assert [(h.meeting_id, h.label) for h in hits] == [("earlier", "S3"), ("earlier", "S4")]
    assert hits[0].score > 0.99 > hits[1].score
