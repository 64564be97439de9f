"""Naming speakers from enrolled voices: the assignment rules on hand-made vectors, then real
CAM++ voiceprints of real AMI recordings (the same people in dev00 and dev01)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.diarization_quality import EvalFile, debug_files
from ml_controller.audio.decode import decode_audio
from ml_controller.diarization.campplus import SCHEMA, CamPlusEmbedder
from ml_controller.settings import MLSettings
from ml_controller.speakers.naming import (
    DEFAULT_NAMING,
    LEGACY_SCHEMA,
    EnrolledVoice,
    NamingParams,
    name_speakers,
    naming_for,
    stale_voices,
)
from ml_controller.speakers.voiceprint import voiceprints_from_turns
from ml_controller.types import SpeakerTurn


def _unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v / np.linalg.norm(v)


def _named(matches: list) -> dict[str, str | None]:
    return {m.label: m.person_id for m in matches}


def test_each_person_names_one_label_the_closest() -> None:
    enrolled = [EnrolledVoice("ann", _unit(1, 0, 0)), EnrolledVoice("bob", _unit(0, 1, 0))]
    voices = {"S1": _unit(1, 0.3, 0), "S2": _unit(1, 0.1, 0), "S3": _unit(0.1, 1, 0)}
    matches = name_speakers(voices, enrolled, NamingParams(threshold=0.5))
    # S1 and S2 both sound like Ann; only the closer one gets her, and S1 is not pushed onto Bob.
    assert _named(matches) == {"S1": None, "S2": "ann", "S3": "bob"}
    assert [m.label for m in matches] == ["S1", "S2", "S3"]
    assert matches[1].score == pytest.approx(float(_unit(1, 0.1, 0) @ _unit(1, 0, 0)))


def test_threshold_and_margin_leave_doubtful_speakers_unnamed() -> None:
    enrolled = [EnrolledVoice("ann", _unit(1, 0, 0)), EnrolledVoice("bob", _unit(0, 1, 0))]
    voices = {"S1": _unit(1, 0.9, 0), "S2": _unit(0, 0, 1)}
    score = float(_unit(1, 0.9, 0) @ _unit(1, 0, 0))
    assert _named(name_speakers(voices, enrolled, NamingParams(threshold=score - 1e-9))) == {
        "S1": "ann",
        "S2": None,
    }
    above = NamingParams(threshold=score + 1e-6)
    assert _named(name_speakers(voices, enrolled, above))["S1"] is None
    # Ann and Bob are almost as close to S1: a margin demands a clearer winner.
    unsure = NamingParams(threshold=0.5, margin=0.1)
    assert _named(name_speakers(voices, enrolled, unsure))["S1"] is None


def test_a_person_with_several_voiceprints_and_no_enrolment_at_all() -> None:
    enrolled = [
        EnrolledVoice("ann", _unit(1, 0, 0)),
        EnrolledVoice("ann", _unit(0, 0, 1)),
        EnrolledVoice("bob", _unit(0.8, 0.6, 0)),
    ]
    voices = {"S1": _unit(0, 0.1, 1)}
    # Max: Ann's second voiceprint matches; mean of her two is lower than the threshold.
    assert _named(name_speakers(voices, enrolled, NamingParams(0.9))) == {"S1": "ann"}
    assert _named(name_speakers(voices, enrolled, NamingParams(0.9, top_k=2))) == {"S1": None}
    nobody = name_speakers(voices, [], NamingParams(0.0))
    assert _named(nobody) == {"S1": None}


# Real voices.


def test_voiceprints_of_another_embedder_are_never_compared() -> None:
    old = EnrolledVoice("ann", _unit(1, 0, 0))  # stored before schemas: GE2E
    new = EnrolledVoice("bob", _unit(0, 1, 0), schema=SCHEMA)
    voices = {"S1": _unit(1, 0, 0), "S2": _unit(0, 1, 0)}
    # The new embedder's voiceprints meet only the new prints; the old one is stale.
    assert _named(name_speakers(voices, [old, new], NamingParams(0.5), schema=SCHEMA)) == {
        "S1": None,
        "S2": "bob",
    }
    assert stale_voices([old, new], SCHEMA) == [old]
    # And a legacy query meets only legacy prints.
    assert _named(name_speakers(voices, [old, new], NamingParams(0.5))) == {
        "S1": "ann",
        "S2": None,
    }
    assert naming_for(SCHEMA) == DEFAULT_NAMING
    assert naming_for(None) == naming_for(LEGACY_SCHEMA) != DEFAULT_NAMING


@pytest.fixture(scope="module")
def embedder(settings: MLSettings) -> CamPlusEmbedder:
    return CamPlusEmbedder.from_cache(settings.cache_dir)


def _file(data_dir: Path, uri: str) -> EvalFile:
    split = "development" if uri.startswith("dev") else "train"
    return next(f for f in debug_files(split, data_dir) if f.uri == uri)


def _reference_voiceprints(file: EvalFile, embedder: CamPlusEmbedder) -> dict[str, np.ndarray]:
    turns = [
        SpeakerTurn(start=segment.start, end=segment.end, speaker=str(label))
        for segment, _, label in file.reference.itertracks(yield_label=True)
    ]
    with decode_audio(file.wav) as audio:
        return voiceprints_from_turns(audio.samples, turns, embedder)


def test_the_same_people_are_named_in_another_meeting(
    embedder: CamPlusEmbedder, data_dir: Path
) -> None:
    enrolled_prints = _reference_voiceprints(_file(data_dir, "dev00"), embedder)
    assert set(enrolled_prints) == {"MEE009", "MEE012"}
    for vector in enrolled_prints.values():
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    enrolled = [EnrolledVoice(person, v, schema=SCHEMA) for person, v in enrolled_prints.items()]
    # dev01's speakers under anonymous labels, as a new meeting would have them.
    later = _reference_voiceprints(_file(data_dir, "dev01"), embedder)
    voices = {f"S{i}": later[person] for i, person in enumerate(sorted(later), 1)}
    matches = name_speakers(voices, enrolled, DEFAULT_NAMING, schema=SCHEMA)
    assert _named(matches) == {"S1": "MEE009", "S2": "MEE012"}
    assert all(m.known for m in matches)

    # trn09's people (FEE083, MEE094, MEE095) were never enrolled: nobody gets a name.
    strangers = _reference_voiceprints(_file(data_dir, "trn09"), embedder)
    assert strangers
    unnamed = name_speakers(strangers, enrolled, DEFAULT_NAMING, schema=SCHEMA)
    assert all(not m.known for m in unnamed), unnamed
