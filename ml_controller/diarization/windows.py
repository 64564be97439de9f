"""Where the segmentation model's fixed-length windows go: a regular grid, kept only on speech."""

from __future__ import annotations

from ml_controller.types import SpeechRegion


def plan_windows(
    speech: list[SpeechRegion],
    n_samples: int,
    *,
    window: int,
    step: int,
    grid: int,
    sample_rate: int,
    min_speech: float = 0.0,
) -> list[int]:
    """Start samples of the windows that hold at least `min_speech` seconds of speech.

    Starts are multiples of `grid` (the model's frame step) so every window's output frames
    fall on one global frame grid; the last window may run past the end (it is zero-padded).
    """
    if n_samples <= 0 or not speech:
        return []
    step = max(grid, step - step % grid)
    last = -(-max(0, n_samples - window) // grid) * grid
    starts = list(range(0, last, step))
    if not starts or starts[-1] != last:
        starts.append(last)

    regions = sorted(
        (max(0, int(r.start * sample_rate)), min(n_samples, int(r.end * sample_rate)))
        for r in speech
    )
    need = int(min_speech * sample_rate)
    kept: list[int] = []
    first = 0
    for start in starts:
        end = start + window
        # Regions are sorted and windows move forward, so skip regions ended before this window.
        while first < len(regions) and regions[first][1] <= start:
            first += 1
        covered = 0
        for a, b in regions[first:]:
            if a >= end:
                break
            covered += min(b, end) - max(a, start)
        if covered > 0 and covered >= need:
            kept.append(start)
    return kept
