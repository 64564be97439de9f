"""Voice embeddings out of diarization: one unit vector per speaker label, from the CPU diarizer
on a real AMI recording and from both pyannote.audio result shapes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyannote.core as core

from core.contracts import SpeakerHints
from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, vad_options
from ml_controller.diarization.cpu import CpuDiarizer
from ml_controller.diarization.labels import to_diarization
from ml_controller.diarization.pyannote_backend import PyannoteDiarizer, speaker_embeddings
from ml_controller.settings import MLSettings
from ml_controller.types import SpeechRegion


def test_cpu_diarizer_gives_every_speaker_a_unit_embedding(
    settings: MLSettings, data_dir: Path
) -> None:
    diarizer = CpuDiarizer.from_settings(settings)
    with decode_audio(data_dir / "audio" / "pyannote_debug" / "dev00.wav") as audio:
        vad = vad_options(settings.vad_threshold, settings.vad_min_silence_ms)
        hints = SpeakerHints(num_speakers=2)
        result = diarizer.diarize(audio.samples, detect_speech(audio, vad), hints)
    assert len(result.speakers) >= 2
    assert set(result.embeddings) == set(result.speakers)
    # CAM++ vectors, and the result says so: other embedders' voiceprints are never compared.
    assert result.embedding_schema == "campplus-192-v1"
    vectors = np.array([result.embeddings[s] for s in result.speakers])
    assert vectors.shape[1] == 192
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Different speakers of one meeting do not share a voice.
    sims = vectors @ vectors.T
    assert (sims[~np.eye(len(vectors), dtype=bool)] < 0.99).all()


def test_embeddings_follow_labels_and_directionless_ones_are_dropped() -> None:
    tracks = [(5.0, 6.0, "b"), (0.0, 1.0, "a"), (2.0, 3.0, "c")]
    vectors = {"a": np.array([3.0, 4.0]), "b": np.zeros(2), "c": np.array([np.nan, 1.0])}
    result = to_diarization(tracks, embeddings={**vectors, "gone": np.ones(2)})
    assert result.speakers == ["S1", "S2", "S3"]  # a, c, b by first appearance
    assert result.embeddings == {"S1": [0.6, 0.8]}


def _annotation() -> Any:
    annotation = core.Annotation(uri="meeting")
    annotation[core.Segment(4.0, 6.5)] = "SPEAKER_00"
    annotation[core.Segment(0.5, 3.0)] = "SPEAKER_01"
    return annotation


@dataclass
class DiarizeOutput:
    """The result shape of pyannote.audio 4.x pipelines."""

    speaker_diarization: Any
    exclusive_speaker_diarization: Any
    speaker_embeddings: Any = None


# Rows in annotation.labels() order: SPEAKER_00, SPEAKER_01.
_CENTROIDS = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 0.0]])


def test_pyannote_4_embeddings_are_read_in_label_order() -> None:
    output = DiarizeOutput(_annotation(), core.Annotation(), _CENTROIDS)
    read = speaker_embeddings(output)
    assert set(read) == {"SPEAKER_00", "SPEAKER_01"}
    assert np.array_equal(read["SPEAKER_00"], [0.0, 2.0, 0.0])
    assert speaker_embeddings(DiarizeOutput(_annotation(), core.Annotation())) == {}


class _Pipeline3x:
    """A pyannote.audio 3.x pipeline's calling convention: embeddings only when asked."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def apply(
        self, file: Any, num_speakers: int | None = None, return_embeddings: bool = False
    ) -> Any:
        return (_annotation(), _CENTROIDS) if return_embeddings else _annotation()

    def __call__(self, file: Any, **kwargs: Any) -> Any:
        self.kwargs = kwargs
        return self.apply(file, **kwargs)


def test_pyannote_3_is_asked_for_embeddings_that_reach_our_labels() -> None:
    pipeline = _Pipeline3x()
    audio = np.zeros(16_000 * 7, dtype=np.float32)
    result = PyannoteDiarizer(pipeline).diarize(
        audio, [SpeechRegion(start=0, end=7)], SpeakerHints(num_speakers=2)
    )
    assert pipeline.kwargs == {"num_speakers": 2, "return_embeddings": True}
    # SPEAKER_01 talks first, so it becomes S1.
    assert result.speakers == ["S1", "S2"]
    assert result.embeddings == {"S1": [1.0, 0.0, 0.0], "S2": [0.0, 1.0, 0.0]}
