"""Speech detection with the Silero VAD model that ships inside faster-whisper."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from ml_controller.audio.decode import DecodedAudio
from ml_controller.types import SpeechRegion

# Blocks overlap so a region cut by a block edge is found whole in one of them.
_BLOCK_SECONDS = 600.0
_OVERLAP_SECONDS = 5.0
# A block whose loudest sample is below -80 dBFS is silence to any speech detector.
_SILENCE_PEAK = 1e-4


def vad_options(threshold: float, min_silence_ms: int) -> VadOptions:
    return VadOptions(
        threshold=threshold, min_silence_duration_ms=min_silence_ms, speech_pad_ms=200
    )


def detect_speech(
    audio: DecodedAudio,
    options: VadOptions,
    on_progress: Callable[[float], None] | None = None,
) -> list[SpeechRegion]:
    """Speech regions of the whole recording, found block by block to bound memory."""
    sr = audio.sample_rate
    regions: list[SpeechRegion] = []
    start = 0.0
    while start < audio.duration:
        end = min(audio.duration, start + _BLOCK_SECONDS + _OVERLAP_SECONDS)
        block = audio.block(start, end)
        # Digital silence (an empty room a bot recorded for hours) holds no speech: skip the model.
        silent = not block.size or float(np.abs(block).max()) < _SILENCE_PEAK
        for ts in [] if silent else get_speech_timestamps(block, options, sampling_rate=sr):
            region = SpeechRegion(start=start + ts["start"] / sr, end=start + ts["end"] / sr)
            if regions and region.start <= regions[-1].end:
                regions[-1] = SpeechRegion(
                    start=regions[-1].start, end=max(regions[-1].end, region.end)
                )
            else:
                regions.append(region)
        start += _BLOCK_SECONDS
        if on_progress is not None:
            on_progress(min(start, audio.duration))
    return regions


def plan_blocks(
    regions: list[SpeechRegion], max_block: float, pad: float = 0.3
) -> list[tuple[float, float]]:
    """Group speech regions into blocks of at most `max_block` seconds, cut only at silences."""
    blocks: list[tuple[float, float]] = []
    for region in regions:
        start, end = max(0.0, region.start - pad), region.end + pad
        if blocks and end - blocks[-1][0] <= max_block:
            blocks[-1] = (blocks[-1][0], end)
            continue
        # Speech with no pause for longer than a block (noise VAD cannot split) is cut hard.
        while end - start > max_block:
            blocks.append((start, start + max_block))
            start += max_block
        blocks.append((start, end))
    return blocks
