"""Shared test fixtures: paths to ../shared/data and one settings object per session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.settings import set_offline_env

set_offline_env()

if TYPE_CHECKING:
    from ml_controller.settings import MLSettings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINUTA_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"evaluation data not found at {SHARED_DATA} (set MINUTA_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def settings() -> MLSettings:
    from ml_controller.settings import MLSettings

    return MLSettings()
