"""The diarizer the settings ask for; each backend imports its heavy libraries only when chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_controller.diarization.base import Diarizer
    from ml_controller.settings import MLSettings


def make_diarizer(settings: MLSettings) -> Diarizer:
    if settings.diarization_backend == "pyannote":
        from ml_controller.diarization.pyannote_backend import PyannoteDiarizer

        return PyannoteDiarizer.from_settings(settings)
    from ml_controller.diarization.cpu import CpuDiarizer

    return CpuDiarizer.from_settings(settings)
