"""The faster CAM++ path gives what the plain one gave: the numpy fbank equals
kaldi-native-fbank, batched crops equal crops run one by one, and onnxruntime's idle threads
sleep instead of spinning on the shared cores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import pytest

from ml_controller.audio.decode import decode_audio
from ml_controller.diarization.campplus import CamPlusEmbedder
from ml_controller.diarization.fbank import fbank, frame_count
from ml_controller.diarization.segmentation import Segmenter
from ml_controller.settings import MLSettings


@pytest.fixture(scope="module")
def embedder(settings: MLSettings) -> CamPlusEmbedder:
    return CamPlusEmbedder.from_cache(settings.cache_dir, threads=1)


@pytest.fixture(scope="module")
def speech(data_dir: Path) -> np.ndarray:
    with decode_audio(data_dir / "audio" / "pyannote_debug" / "dev00.wav") as audio:
        return np.array(audio.samples[: 20 * 16_000])


def _kaldi_fbank(wav: np.ndarray) -> np.ndarray:
    options = knf.FbankOptions()
    options.frame_opts.samp_freq = 16_000
    options.frame_opts.dither = 0.0
    options.frame_opts.snip_edges = True
    options.mel_opts.num_bins = 80
    extractor = knf.OnlineFbank(options)
    extractor.accept_waveform(16_000, wav.astype(np.float32) * 32768.0)
    extractor.input_finished()
    return np.stack([extractor.get_frame(i) for i in range(extractor.num_frames_ready)])


def test_numpy_fbank_equals_kaldi_native_fbank(speech: np.ndarray) -> None:
    wav = speech[:160_000]
    reference = _kaldi_fbank(wav)
    assert frame_count(len(wav)) == len(reference) == 998
    assert np.abs(fbank(wav) - reference).max() < 1e-3
    chosen = np.r_[0:50, 400:420, 997]
    assert np.abs(fbank(wav, chosen) - reference[chosen]).max() < 1e-3
    silence = np.zeros(16_000, dtype=np.float32)
    assert np.abs(fbank(silence) - _kaldi_fbank(silence)).max() < 1e-3
    assert fbank(wav[:100]).shape == (0, 80)
    with pytest.raises(IndexError):
        fbank(wav, np.array([998]))


def test_batched_crops_equal_crops_one_by_one(
    embedder: CamPlusEmbedder, speech: np.ndarray
) -> None:
    # Lengths repeat so that several calls hold more than one crop.
    crops = [fbank(speech[s * 16_000 :][: n * 160 + 240]) for s, n in enumerate([400, 250] * 5)]
    batched = replace(embedder.params, batch_crops=4)
    one_by_one = np.stack([embedder.embed_features(c) for c in crops])
    embedder.params = batched
    together = embedder.embed_batch(crops)
    assert together.shape == (10, 192)
    assert np.abs(together - one_by_one).max() < 1e-4


def test_batched_windows_equal_windows_one_by_one(
    settings: MLSettings, embedder: CamPlusEmbedder, speech: np.ndarray
) -> None:
    chunks = np.stack([speech[:160_000], speech[40_000:200_000]])
    activity = Segmenter(threads=1)(chunks).activity
    assert activity.any()
    embedder.params = replace(embedder.params, batch_crops=1)
    alone = embedder.embed_windows(chunks, activity)
    embedder.params = replace(embedder.params, batch_crops=8)
    together = embedder.embed_windows(chunks, activity)
    assert np.array_equal(np.isnan(alone.vectors), np.isnan(together.vectors))
    assert np.nanmax(np.abs(alone.vectors - together.vectors)) < 1e-4
    assert np.array_equal(alone.seconds, together.seconds)


def test_onnx_threads_sleep_instead_of_spinning(embedder: CamPlusEmbedder) -> None:
    options = embedder.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 1
    segmenter = Segmenter(threads=2).session.get_session_options()
    assert segmenter.get_session_config_entry("session.intra_op.allow_spinning") == "0"
