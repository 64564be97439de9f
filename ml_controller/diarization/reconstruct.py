"""From per-window local activity plus the local→global mapping to global speaker turns.

Overlapping windows vote on every frame of one global frame grid (Hamming-weighted, so a window's
well-contextualised middle counts more than its edges). The windows also vote on how many people
talk in each frame; the frame then goes to that many of the best-scoring speakers, which is what
keeps overlapped speech as overlapping turns. Frames are processed a block at a time, so memory
does not grow with the length of the recording.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_BLOCK_FRAMES = 1 << 15


def frame_runs(
    window_frames: np.ndarray,
    activity: np.ndarray,
    assignment: np.ndarray,
    n_speakers: int,
    count_onset: float = 0.5,
) -> Iterator[tuple[int, int, int]]:
    """(first frame, end frame, speaker) runs on the global grid, block by block in time order.

    `window_frames` (windows,) global index of each window's first frame, ascending;
    `activity` (windows, frames, local) bool; `assignment` (windows, local) global index or -1.
    A run cut by a block edge comes out as two runs that touch. A frame holds n speakers when
    the windows' mean count reaches n - 1 + `count_onset` (0.5 is plain rounding).
    """
    if n_speakers == 0 or len(window_frames) == 0:
        return
    n_local_frames = activity.shape[1]
    weights = np.hamming(n_local_frames).astype(np.float32) + 1e-3
    total = int(window_frames[-1]) + n_local_frames
    for a in range(int(window_frames[0]), total, _BLOCK_FRAMES):
        b = min(total, a + _BLOCK_FRAMES)
        score = np.zeros((b - a, n_speakers), dtype=np.float32)
        count = np.zeros(b - a, dtype=np.float32)
        weight = np.zeros(b - a, dtype=np.float32)
        first = int(np.searchsorted(window_frames, a - n_local_frames + 1))
        last = int(np.searchsorted(window_frames, b))
        for w in range(first, last):
            start = int(window_frames[w])
            lo, hi = max(a, start), min(b, start + n_local_frames)
            local = activity[w, lo - start : hi - start]
            h = weights[lo - start : hi - start]
            weight[lo - a : hi - a] += h
            count[lo - a : hi - a] += h * local.sum(axis=1)
            mapped = np.zeros((hi - lo, n_speakers), dtype=np.float32)
            for s, speaker in enumerate(assignment[w]):
                if speaker >= 0:
                    # Two local speakers of one window mapped to one global speaker count once.
                    np.maximum(mapped[:, speaker], local[:, s], out=mapped[:, speaker])
            score[lo - a : hi - a] += h[:, None] * mapped
        covered = weight > 0
        score[covered] /= weight[covered, None]
        speakers = np.zeros(b - a, dtype=np.int64)
        mean = count[covered] / weight[covered]
        speakers[covered] = np.floor(mean + 1.0 - count_onset).astype(np.int64)
        speakers = np.minimum(speakers, n_speakers)
        rank = np.argsort(np.argsort(-score, axis=1, kind="stable"), axis=1, kind="stable")
        on = (rank < speakers[:, None]) & (score > 0)
        yield from _runs(on, a)


def _runs(on: np.ndarray, offset: int) -> Iterator[tuple[int, int, int]]:
    padded = np.zeros((on.shape[0] + 2, on.shape[1]), dtype=np.int8)
    padded[1:-1] = on
    edges = np.diff(padded, axis=0)
    for speaker in range(on.shape[1]):
        starts = np.flatnonzero(edges[:, speaker] == 1)
        ends = np.flatnonzero(edges[:, speaker] == -1)
        for s, e in zip(starts, ends, strict=True):
            yield offset + int(s), offset + int(e), speaker
