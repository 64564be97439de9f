"""Fixtures of the entry-point tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def audio_dir(data_dir: Path) -> Path:
    # The API tests' recordings (tests/services/api/conftest.py has its own fixture of them).
    return data_dir / "audio"
