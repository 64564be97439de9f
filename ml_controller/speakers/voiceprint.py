"""Voiceprints of speakers whose turns are already known (a reference annotation, a user's pick).

The same window embeddings the CPU diarizer clusters (CAM++ by default), gathered the same way
(10 s windows, each speaker's frames of each window, overlapped speech left out where possible),
so a voiceprint made here is comparable with one out of `Diarization.embeddings` of the same
embedder.
"""

from __future__ import annotations

import numpy as np

from ml_controller.audio.constants import SAMPLE_RATE
from ml_controller.diarization.clustering import speaker_embeddings
from ml_controller.diarization.embedders import WindowEmbedder
from ml_controller.diarization.segmentation import (
    FRAME_SPAN_SAMPLES,
    FRAME_STEP_SAMPLES,
    FRAMES_PER_WINDOW,
    WINDOW_SAMPLES,
)
from ml_controller.diarization.windows import plan_windows
from ml_controller.types import SpeakerTurn, SpeechRegion

_BATCH_WINDOWS = 8


def voiceprints_from_turns(
    audio: np.ndarray,
    turns: list[SpeakerTurn],
    embedder: WindowEmbedder,
    step_seconds: float = 2.5,
    min_embedding_seconds: float = 1.0,
) -> dict[str, np.ndarray]:
    """Speaker -> unit voiceprint from 16 kHz mono `audio`; speakers with too little speech for
    any embedding are left out."""
    speakers = sorted({turn.speaker for turn in turns})
    if not speakers or len(audio) == 0:
        return {}
    duration = len(audio) / SAMPLE_RATE
    starts = plan_windows(
        [SpeechRegion(start=0.0, end=duration)],
        len(audio),
        window=WINDOW_SAMPLES,
        step=int(step_seconds * SAMPLE_RATE),
        grid=FRAME_STEP_SAMPLES,
        sample_rate=SAMPLE_RATE,
    )
    vectors, seconds = [], []
    for i in range(0, len(starts), _BATCH_WINDOWS):
        batch = starts[i : i + _BATCH_WINDOWS]
        chunks = np.zeros((len(batch), WINDOW_SAMPLES), dtype=np.float32)
        for row, start in enumerate(batch):
            piece = audio[start : start + WINDOW_SAMPLES]
            chunks[row, : len(piece)] = piece
        embedded = embedder.embed_windows(chunks, turn_activity(batch, turns, speakers))
        vectors.append(embedded.vectors)
        seconds.append(embedded.seconds)
    vec, sec = np.concatenate(vectors), np.concatenate(seconds)
    # Column k of every window is speaker k: the assignment the diarizer has to guess.
    assignment = np.broadcast_to(np.arange(len(speakers)), sec.shape)
    voices = speaker_embeddings(vec, sec, assignment, len(speakers), min_embedding_seconds)
    return {
        speaker: voices[k] for k, speaker in enumerate(speakers) if np.isfinite(voices[k]).all()
    }


def turn_activity(starts: list[int], turns: list[SpeakerTurn], speakers: list[str]) -> np.ndarray:
    """(windows, frames, speakers) bool: whose turn holds the centre of each segmentation frame."""
    offsets = np.arange(FRAMES_PER_WINDOW) * FRAME_STEP_SAMPLES + FRAME_SPAN_SAMPLES / 2
    centres = (np.asarray(starts, dtype=np.float64)[:, None] + offsets[None, :]) / SAMPLE_RATE
    activity = np.zeros((len(starts), FRAMES_PER_WINDOW, len(speakers)), dtype=bool)
    column = {speaker: k for k, speaker in enumerate(speakers)}
    for turn in turns:
        inside = (centres >= turn.start) & (centres < turn.end)
        activity[:, :, column[turn.speaker]] |= inside
    return activity
