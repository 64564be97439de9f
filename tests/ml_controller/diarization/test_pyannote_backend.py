"""The pyannote.audio backend without pyannote.audio: its error paths, its folder resolution and
the conversion of real `pyannote.core` annotations (pyannote 3.x and 4.x result shapes)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.contracts import SpeakerHints
from ml_controller.diarization.factory import make_diarizer
from ml_controller.diarization.pyannote_backend import (
    PyannoteDiarizer,
    PyannoteUnavailableError,
    annotation_tracks,
    hint_arguments,
    resolve_pipeline_dir,
)
from ml_controller.settings import MLSettings
from ml_controller.types import SpeechRegion

core = pytest.importorskip("pyannote.core")


def _pipeline_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "community-1"
    folder.mkdir()
    (folder / "config.yaml").write_text("pipeline:\n  name: x\n")
    return folder


def test_folder_must_be_set_exist_and_hold_a_config(tmp_path: Path) -> None:
    with pytest.raises(PyannoteUnavailableError, match="MINUTA_PYANNOTE_PIPELINE_DIR"):
        resolve_pipeline_dir(None)
    with pytest.raises(PyannoteUnavailableError, match="no such folder"):
        resolve_pipeline_dir(tmp_path / "missing")
    with pytest.raises(PyannoteUnavailableError, match=r"has no config\.yaml"):
        resolve_pipeline_dir(tmp_path)


def test_folder_or_its_config_file_are_accepted(tmp_path: Path) -> None:
    folder = _pipeline_folder(tmp_path)
    assert resolve_pipeline_dir(folder) == folder
    assert resolve_pipeline_dir(folder / "config.yaml") == folder


def test_missing_pyannote_audio_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry makes `import pyannote.audio` fail even where it is installed.
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)
    monkeypatch.delenv("PYANNOTE_METRICS_ENABLED", raising=False)
    with pytest.raises(PyannoteUnavailableError, match=r"minuta\[gpu\]"):
        PyannoteDiarizer.load(_pipeline_folder(tmp_path))
    # Telemetry is off and the hub client offline before pyannote.audio is even imported.
    assert os.environ["PYANNOTE_METRICS_ENABLED"] == "0"
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_factory_picks_the_backend_from_settings(
    settings: MLSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)
    chosen = settings.model_copy(
        update={"diarization_backend": "pyannote", "pyannote_pipeline_dir": None}
    )
    with pytest.raises(PyannoteUnavailableError, match="MINUTA_PYANNOTE_PIPELINE_DIR"):
        make_diarizer(chosen)
    chosen = settings.model_copy(
        update={
            "diarization_backend": "pyannote",
            "pyannote_pipeline_dir": _pipeline_folder(tmp_path),
        }
    )
    with pytest.raises(PyannoteUnavailableError, match=r"pyannote\.audio"):
        make_diarizer(chosen)


def test_hints_become_pipeline_arguments() -> None:
    assert hint_arguments(SpeakerHints()) == {}
    assert hint_arguments(SpeakerHints(num_speakers=3, min_speakers=1)) == {"num_speakers": 3}
    assert hint_arguments(SpeakerHints(min_speakers=2)) == {"min_speakers": 2}
    assert hint_arguments(SpeakerHints(min_speakers=2, max_speakers=4)) == {
        "min_speakers": 2,
        "max_speakers": 4,
    }


def _annotation() -> Any:
    annotation = core.Annotation(uri="meeting")
    annotation[core.Segment(4.0, 6.5)] = "SPEAKER_00"
    annotation[core.Segment(0.5, 3.0)] = "SPEAKER_01"
    annotation[core.Segment(2.5, 4.2)] = "SPEAKER_00"
    return annotation


@dataclass
class DiarizeOutput:
    """The result shape of pyannote.audio 4.x pipelines."""

    speaker_diarization: Any
    exclusive_speaker_diarization: Any
    speaker_embeddings: Any = None


def test_annotations_of_pyannote_3_and_4_are_read_with_overlaps() -> None:
    as_3x = annotation_tracks(_annotation())
    assert sorted(as_3x) == [
        (0.5, 3.0, "SPEAKER_01"),
        (2.5, 4.2, "SPEAKER_00"),
        (4.0, 6.5, "SPEAKER_00"),
    ]
    exclusive = core.Annotation(uri="meeting")
    exclusive[core.Segment(0.5, 2.5)] = "SPEAKER_01"
    # 4.x: the overlapping `speaker_diarization`, not the exclusive one.
    assert annotation_tracks(DiarizeOutput(_annotation(), exclusive)) == as_3x


class _FakePipeline:
    """Stands in for a loaded pyannote.audio pipeline: records its input, returns 4.x output."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def __call__(self, file: dict[str, Any], **kwargs: Any) -> DiarizeOutput:
        self.calls.append((file, kwargs))
        return DiarizeOutput(_annotation(), core.Annotation())


def test_diarize_feeds_a_waveform_and_relabels_the_result() -> None:
    fake = _FakePipeline()
    audio = np.linspace(-0.5, 0.5, 16_000 * 7, dtype=np.float32)
    result = PyannoteDiarizer(fake).diarize(
        audio, [SpeechRegion(start=0, end=7)], SpeakerHints(num_speakers=2)
    )
    ((file, kwargs),) = fake.calls
    assert kwargs == {"num_speakers": 2}
    assert file["sample_rate"] == 16_000
    assert tuple(file["waveform"].shape) == (1, len(audio))
    assert np.allclose(file["waveform"].numpy()[0], audio)
    assert result.speakers == ["S1", "S2"]
    assert [(t.start, t.end, t.speaker) for t in result.turns] == [
        (0.5, 3.0, "S1"),
        (2.5, 6.5, "S2"),  # one speaker's touching turns merge; the overlap with S1 stays
    ]


def test_no_audio_or_no_speech_skips_the_pipeline() -> None:
    fake = _FakePipeline()
    diarizer = PyannoteDiarizer(fake)
    assert diarizer.diarize(np.zeros(0, np.float32), [], SpeakerHints()).turns == []
    assert diarizer.diarize(np.zeros(16_000, np.float32), [], SpeakerHints()).turns == []
    assert fake.calls == []
