"""The CPU diarizer's parts on small hand-made inputs (no model runs here)."""

from __future__ import annotations

import numpy as np
import pytest

from ml_controller.diarization.campplus import _fbank_to_segmentation_frames, _spread
from ml_controller.diarization.clustering import ClusteringParams, assign_speakers, find_centroids
from ml_controller.diarization.labels import to_diarization
from ml_controller.diarization.reconstruct import frame_runs
from ml_controller.diarization.segmentation import POWERSET, powerset_matrix
from ml_controller.diarization.windows import plan_windows
from ml_controller.types import SpeechRegion

SR = 16_000


def test_labels_follow_first_appearance_and_keep_cross_speaker_overlap() -> None:
    result = to_diarization(
        [(5.0, 6.0, "x"), (0.0, 2.0, 7), (1.5, 3.0, "x"), (2.5, 4.0, 7), (3.9, 4.5, 7)]
    )
    assert result.speakers == ["S1", "S2"]
    assert [(t.start, t.end, t.speaker) for t in result.turns] == [
        (0.0, 2.0, "S1"),
        (1.5, 3.0, "S2"),  # another speaker's overlap stays
        (2.5, 4.5, "S1"),  # a speaker's own overlapping turns merge
        (5.0, 6.0, "S2"),
    ]


def test_labels_bridge_short_gaps_then_drop_short_turns() -> None:
    tracks = [(0.0, 1.0, "a"), (1.2, 2.0, "a"), (5.0, 5.1, "b"), (6.0, 7.0, "c")]
    result = to_diarization(tracks, fill_gap=0.3, min_duration=0.2)
    assert [(t.start, t.end, t.speaker) for t in result.turns] == [
        (0.0, 2.0, "S1"),
        (6.0, 7.0, "S2"),
    ]


def test_windows_are_on_the_frame_grid_and_only_where_speech_is() -> None:
    window, step, grid = 10 * SR, int(2.5 * SR), 270
    speech = [SpeechRegion(start=40.0, end=42.0)]
    starts = plan_windows(
        speech, 100 * SR, window=window, step=step, grid=grid, sample_rate=SR, min_speech=0.5
    )
    assert starts and all(s % grid == 0 for s in starts)
    assert all(s < 42 * SR and s + window > 40 * SR for s in starts)
    assert len(starts) == 4  # every window touching 40–42 s on a 2.5 s hop


def test_windows_cover_the_end_and_short_recordings() -> None:
    n = 31 * SR
    starts = plan_windows(
        [SpeechRegion(start=0, end=31)], n, window=10 * SR, step=5 * SR, grid=270, sample_rate=SR
    )
    assert starts[0] == 0 and starts[-1] + 10 * SR >= n and starts[-1] % 270 == 0
    short = plan_windows(
        [SpeechRegion(start=0, end=3)],
        3 * SR,
        window=10 * SR,
        step=5 * SR,
        grid=270,
        sample_rate=SR,
    )
    assert short == [0]
    assert plan_windows([], n, window=10 * SR, step=5 * SR, grid=270, sample_rate=SR) == []


def test_powerset_classes_map_to_local_speakers() -> None:
    matrix = powerset_matrix()
    assert matrix.shape == (7, 3)
    assert matrix[0].sum() == 0 and (matrix[1:4] == np.eye(3)).all()
    assert [tuple(np.flatnonzero(row)) for row in matrix[4:]] == list(POWERSET[4:])


def test_reconstruction_votes_maps_and_keeps_overlap() -> None:
    frames = 100
    activity = np.zeros((2, frames, 3), dtype=bool)
    activity[0, 10:60, 0] = True  # window 0: local 0 talks, local 1 joins
    activity[0, 40:60, 1] = True
    activity[1, 0:10, 2] = True  # window 1 starts at frame 50: its local 2 = window 0's local 0
    activity[1, 0:10, 0] = True  # and its local 0 = window 0's local 1
    assignment = np.array([[0, 1, -1], [1, -1, 0]])
    runs = sorted(frame_runs(np.array([0, 50]), activity, assignment, n_speakers=2))
    assert runs == [(10, 60, 0), (40, 60, 1)]


def test_reconstruction_without_speakers_is_empty() -> None:
    activity = np.ones((1, 10, 3), dtype=bool)
    assert list(frame_runs(np.array([0]), activity, np.full((1, 3), -1), n_speakers=0)) == []


def _voices(rng: np.random.Generator, centres: np.ndarray, per: int) -> np.ndarray:
    x = np.repeat(centres, per, axis=0) + 0.08 * rng.standard_normal((len(centres) * per, 16))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize(
    "params",
    [
        ClusteringParams(method="ahc", threshold=0.32),
        ClusteringParams(),  # spectral, the count from the eigengap
        ClusteringParams(method="vbx", threshold=0.32),
        # VBx started from too many clusters drops the ones nobody needs.
        ClusteringParams(method="vbx", threshold=0.05),
    ],
    ids=["ahc", "spectral", "vbx", "vbx from over-split"],
)
def test_clustering_finds_the_count_and_obeys_bounds(params: ClusteringParams) -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(16)[:3]
    x = _voices(rng, centres, 20)
    seconds = np.full(len(x), 3.0, dtype=np.float32)
    windows = np.arange(len(x))
    assert len(find_centroids(x, seconds, windows, (1, 8), params)) == 3
    assert len(find_centroids(x, seconds, windows, (1, 2), params)) == 2
    assert len(find_centroids(x, seconds, windows, (5, 5), params)) == 5
    # Embeddings from too little speech do not shape the clusters when better ones exist.
    seconds[:20] = 0.5
    assert len(find_centroids(x, seconds, windows, (1, 8), params)) == 2


def test_clustering_of_nothing_gives_no_speakers() -> None:
    x = np.full((3, 16), np.nan, dtype=np.float32)
    centroids = find_centroids(x, np.zeros(3), np.arange(3), (1, 8), ClusteringParams())
    assert centroids.shape == (0, 16)


def test_local_speakers_of_one_window_get_different_global_speakers() -> None:
    centroids = np.eye(4, dtype=np.float32)[:2]
    vectors = np.zeros((2, 3, 4), dtype=np.float32)
    vectors[0, 0] = [1, 0, 0, 0]
    vectors[0, 1] = [0.9, 0.1, 0, 0]  # closer to speaker 0 too, but 0 is taken
    vectors[1, 2] = [0, 1, 0, 0]
    vectors[1, 0] = np.nan  # active, no embedding
    active = np.array([[True, True, False], [True, False, True]])
    assert assign_speakers(vectors, active, centroids).tolist() == [[0, 1, -1], [0, -1, 1]]


def test_campplus_frame_helpers() -> None:
    # 10 s of fbank frames (25 ms every 10 ms) onto the 589 segmentation frames.
    mapping = _fbank_to_segmentation_frames(998, 589)
    assert mapping[0] == 0 and mapping[-1] == 588 and (np.diff(mapping) >= 0).all()
    frames = np.arange(1000)
    assert _spread(frames[:300], 400).tolist() == list(range(300))
    chosen = _spread(frames, 400)
    assert len(chosen) == 400 and chosen[0] == 0 and chosen[-1] == 999
    assert len(np.unique(chosen)) == 400  # four whole blocks spread over the selection


def test_ge2e_helpers() -> None:
    pytest.importorskip("resemblyzer", reason="GE2E is the optional `ge2e` extra")
    from ml_controller.diarization.embedding import _mel_to_segmentation_frames, _partials

    frames = np.arange(50 * 40, dtype=np.float32).reshape(50, 40)
    assert [p.shape for p in _partials(frames, 3)] == [(160, 40)]
    long = np.zeros((1000, 40), dtype=np.float32)
    parts = _partials(long, 3)
    assert len(parts) == 3 and all(p.shape == (160, 40) for p in parts)
    mapping = _mel_to_segmentation_frames(1001, 589)
    assert mapping[0] == 0 and mapping[-1] == 588 and (np.diff(mapping) >= 0).all()
