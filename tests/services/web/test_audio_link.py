"""`GET /v1/meetings/{id}/audio`: the player's link to a recording, on both real storage
configurations (SQLite + local folder, PostgreSQL + SeaweedFS S3). It must give the exact bytes,
honour Range (players seek with it) and exist only for the meeting's own tenant."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from testkit.postgres import postgres_url
from testkit.s3_server import seaweedfs_s3
from tests.services.api.conftest import (  # fixtures, imported for pytest
    ApiStack,
    anyio_backend,
    api_settings,
    audio_dir,
    backend,
    migrated_postgres,
    s3_bucket,
    stack,
)

__all__ = [
    "anyio_backend",
    "api_settings",
    "audio_dir",
    "backend",
    "migrated_postgres",
    "postgres_url",
    "s3_bucket",
    "seaweedfs_s3",
    "stack",
]

pytestmark = pytest.mark.anyio


async def _get(stack: ApiStack, url: str, **headers: str) -> httpx.Response:
    """Local-folder links point at the app itself; S3 links at the S3 server."""
    if url.startswith(str(stack.client.base_url)):
        return await stack.client.get(url, headers=headers)
    async with httpx.AsyncClient(timeout=30) as outside:
        return await outside.get(url, headers=headers)


async def test_audio_link_serves_the_recording_with_ranges_to_its_tenant_only(
    stack: ApiStack, audio_dir: Path
) -> None:
    a = await stack.tenant("a")
    b = await stack.tenant("b")
    recording = audio_dir / "asr_en" / "LDC93S1.wav"
    uploaded = await stack.upload(a, recording, title="Dark suit")
    assert uploaded.status_code == 202
    meeting = uploaded.json()
    path = f"/v1/meetings/{meeting['id']}/audio"

    answer = await stack.client.get(path, headers=a)
    assert answer.status_code == 200, answer.text
    link = answer.json()
    assert link["content_type"] == meeting["audio"]["content_type"] == "audio/wav"
    assert 0 < link["expires_in"] <= 24 * 3600
    whole = await _get(stack, link["url"])  # no API key: the link itself is the permission
    assert whole.status_code == 200
    assert whole.content == recording.read_bytes()
    part = await _get(stack, link["url"], Range="bytes=100-199")
    assert part.status_code == 206
    assert part.content == recording.read_bytes()[100:200]

    other = await stack.client.get(path, headers=b)
    missing = await stack.client.get(f"/v1/meetings/{uuid.uuid4()}/audio", headers=b)
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    assert (await stack.client.get(path)).status_code == 401

    # Once the meeting is deleted, an old link finds nothing.
    assert (
        await stack.client.delete(f"/v1/meetings/{meeting['id']}", headers=a)
    ).status_code == 204
    assert (await _get(stack, link["url"])).status_code == 404
