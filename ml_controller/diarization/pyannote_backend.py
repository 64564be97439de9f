"""pyannote.audio pipelines (community-1, speaker-diarization-3.1, ...) loaded from a local folder.

This backend belongs to the GPU image (`pip install minuta[gpu]`); the CPU install leaves
pyannote.audio out (see ../shared/MODELS.md), so it is imported only when this backend is used.
The folder is the pipeline's own: its `config.yaml` plus the model files it refers to. A 4.x
pipeline such as community-1 refers to its models by `$model/<subfolder>`, so the folder is
self-contained; a 3.x config that names hub models must be edited to name local files instead.
Nothing here goes to a model hub: the hub client is switched to offline mode before loading.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.contracts import SpeakerHints
from ml_controller.audio.constants import SAMPLE_RATE
from ml_controller.diarization.labels import to_diarization
from ml_controller.types import Diarization, SpeechRegion

if TYPE_CHECKING:
    from ml_controller.settings import MLSettings

# The vector space of this backend's speaker embeddings (see embedders.py).
SCHEMA = "pyannote-v1"

PIPELINE_CONFIG = "config.yaml"


class PyannoteUnavailableError(RuntimeError):
    """The pyannote backend cannot run here; the message says what to install or set."""


def resolve_pipeline_dir(path: Path | None) -> Path:
    """The local pipeline folder (a path to its config.yaml is accepted too)."""
    if path is None:
        raise PyannoteUnavailableError(
            "diarization backend 'pyannote' needs MINUTA_PYANNOTE_PIPELINE_DIR: a local folder "
            f"holding the pipeline's {PIPELINE_CONFIG} and model files"
        )
    path = Path(path).expanduser()
    if path.is_file() and path.name == PIPELINE_CONFIG:
        path = path.parent
    if not path.is_dir():
        raise PyannoteUnavailableError(
            f"MINUTA_PYANNOTE_PIPELINE_DIR={path}: no such folder; give the local folder "
            f"holding the pipeline's {PIPELINE_CONFIG}"
        )
    if not (path / PIPELINE_CONFIG).is_file():
        raise PyannoteUnavailableError(
            f"MINUTA_PYANNOTE_PIPELINE_DIR={path}: the folder has no {PIPELINE_CONFIG}; give the "
            "folder of a pyannote.audio pipeline (config.yaml and its model files)"
        )
    return path


def _pipeline_class() -> Any:
    # Before the import: pyannote.audio 4 sends usage metrics by default, and nothing may
    # reach a model hub (forced: this process may have been started without the entry points).
    from core.settings import set_offline_env

    set_offline_env(force=True)
    try:
        from pyannote.audio import Pipeline
    except ImportError as exc:
        raise PyannoteUnavailableError(
            "diarization backend 'pyannote' needs pyannote.audio, which only the GPU image "
            "installs: pip install 'minuta[gpu]' (or set MINUTA_DIARIZATION_BACKEND=cpu)"
        ) from exc
    return Pipeline


def hint_arguments(hints: SpeakerHints) -> dict[str, int]:
    """The pipeline's keyword arguments for the user's speaker-count hints."""
    if hints.num_speakers is not None:
        return {"num_speakers": hints.num_speakers}
    given = {"min_speakers": hints.min_speakers, "max_speakers": hints.max_speakers}
    return {key: value for key, value in given.items() if value is not None}


def _annotation(output: Any) -> Any:
    if isinstance(output, tuple):  # 3.x with return_embeddings=True: (annotation, centroids)
        output = output[0]
    return getattr(output, "speaker_diarization", output)


def annotation_tracks(output: Any) -> list[tuple[float, float, str]]:
    """(start, end, label) of a pipeline's result.

    pyannote.audio 3.x returns a `pyannote.core.Annotation` (with `return_embeddings=True`, an
    (annotation, embeddings) pair); 4.x returns an object whose `speaker_diarization` is that
    Annotation (overlaps kept; its `exclusive_speaker_diarization` drops them, which is not what
    we want here).
    """
    return [
        (float(segment.start), float(segment.end), str(label))
        for segment, _, label in _annotation(output).itertracks(yield_label=True)
    ]


def speaker_embeddings(output: Any) -> dict[str, np.ndarray]:
    """Label -> the pipeline's own centroid embedding of that speaker, where it gives them.

    Both 3.x (second item of the pair) and 4.x (`speaker_embeddings`) give a (speakers, dim)
    array in the order of `annotation.labels()`; rows it pads with zeros are left to
    `to_diarization`, which drops vectors without a direction.
    """
    if isinstance(output, tuple) and len(output) == 2:
        vectors = output[1]
    else:
        vectors = getattr(output, "speaker_embeddings", None)
    if vectors is None:
        return {}
    labels = [str(label) for label in _annotation(output).labels()]
    rows = np.asarray(vectors, dtype=np.float64)
    return {label: rows[i] for i, label in enumerate(labels) if i < len(rows)}


def _asks_for_embeddings(pipeline: Any) -> bool:
    """3.x pipelines return embeddings only when asked; 4.x always do, and warn at the flag."""
    try:
        return "return_embeddings" in inspect.signature(pipeline.apply).parameters
    except (AttributeError, TypeError, ValueError):
        return False


class PyannoteDiarizer:
    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline

    @classmethod
    def load(cls, pipeline_dir: Path | None, device: str = "cpu") -> PyannoteDiarizer:
        folder = resolve_pipeline_dir(pipeline_dir)
        pipeline_class = _pipeline_class()
        import torch

        pipeline = pipeline_class.from_pretrained(folder)
        if pipeline is None:
            raise PyannoteUnavailableError(
                f"pyannote.audio could not load the pipeline in {folder}"
            )
        pipeline.to(torch.device(device))
        return cls(pipeline)

    @classmethod
    def from_settings(cls, settings: MLSettings) -> PyannoteDiarizer:
        return cls.load(settings.pyannote_pipeline_dir, settings.pyannote_device)

    def diarize(
        self, audio: np.ndarray, speech: list[SpeechRegion], hints: SpeakerHints
    ) -> Diarization:
        """pyannote finds speech itself, so the VAD regions are not used."""
        if len(audio) == 0 or not speech:
            return Diarization(turns=[], speakers=[], embedding_schema=SCHEMA)
        import torch

        # A writable copy: torch cannot wrap a read-only memory map without risking writes.
        waveform = torch.from_numpy(np.array(audio, dtype=np.float32)).unsqueeze(0)
        extra = {"return_embeddings": True} if _asks_for_embeddings(self.pipeline) else {}
        output = self.pipeline(
            {"waveform": waveform, "sample_rate": SAMPLE_RATE}, **hint_arguments(hints), **extra
        )
        result = to_diarization(annotation_tracks(output), embeddings=speaker_embeddings(output))
        # Its own vector space: never compared with the CPU embedders' voiceprints.
        result.embedding_schema = SCHEMA
        return result
