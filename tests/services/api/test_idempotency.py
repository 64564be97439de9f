"""Idempotency-Key on uploads: a retried upload returns the meeting the first one created."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.api.db.models import Meeting, OutboxJob
from tests.services.api.conftest import ApiStack

pytestmark = pytest.mark.anyio


async def _counts(stack: ApiStack) -> tuple[int, int]:
    async with stack.ctx.sessionmaker() as session:
        meetings = await session.scalar(select(func.count()).select_from(Meeting))
        jobs = await session.scalar(select(func.count()).select_from(OutboxJob))
    return int(meetings or 0), int(jobs or 0)


async def test_the_same_key_twice_gives_one_meeting(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    keyed = {**headers, "Idempotency-Key": "upload-2026-11-24-0001"}
    flac = audio_dir / "asr_en" / "jfk.flac"
    first = await stack.upload(keyed, flac, title="JFK")
    again = await stack.upload(keyed, flac, title="JFK")
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert await _counts(stack) == (1, 1)
    # Without a key, the same file is a new meeting.
    plain = await stack.upload(headers, flac, title="JFK")
    assert plain.json()["id"] != first.json()["id"]
    assert await _counts(stack) == (2, 2)


async def test_keys_are_per_tenant(stack: ApiStack, audio_dir: Path) -> None:
    key = {"Idempotency-Key": "same-key"}
    a, b = await stack.tenant("a"), await stack.tenant("b")
    flac = audio_dir / "asr_en" / "jfk.flac"
    first = await stack.upload({**a, **key}, flac)
    other = await stack.upload({**b, **key}, flac)
    assert first.status_code == other.status_code == 202
    assert first.json()["id"] != other.json()["id"]
    assert "idempotent-replayed" not in other.headers


@pytest.mark.parametrize("key", ["x" * 201, "has space", ""])
async def test_a_bad_key_is_refused_before_anything_is_stored(
    stack: ApiStack, audio_dir: Path, key: str
) -> None:
    headers = {**(await stack.tenant()), "Idempotency-Key": key}
    answer = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    assert answer.status_code == 422, answer.text
    assert "Idempotency-Key" in answer.text
    assert await _counts(stack) == (0, 0)
