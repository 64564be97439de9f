from __future__ import annotations

from ml_controller.diarization.cpu import CpuDiarizationParams, CpuDiarizer
from ml_controller.diarization.factory import make_diarizer
from ml_controller.settings import MLSettings


def test_cpu_backend_is_the_default(settings: MLSettings) -> None:
    assert settings.diarization_backend == "cpu"
    assert isinstance(make_diarizer(settings), CpuDiarizer)


def test_settings_override_only_what_they_set(settings: MLSettings) -> None:
    tuned = CpuDiarizationParams()
    params = CpuDiarizationParams.from_settings(
        settings.model_copy(update={"diarization_threshold": 0.5, "diarization_max_speakers": 3})
    )
    assert params.clustering.threshold == 0.5
    assert params.default_max_speakers == 3
    assert params.step_seconds == tuned.step_seconds
    assert params.clustering.min_cluster_seconds == tuned.clustering.min_cluster_seconds
