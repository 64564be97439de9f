"""Presigned recording URLs really expire, on both stores: the local folder's HMAC-signed route
and S3 (SeaweedFS). Fetched for real: 200 before, 403 after; a tampered signature is a 403."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from services.api.db.models import Meeting
from tests.services.api.conftest import ApiStack

pytestmark = pytest.mark.anyio

TTL_SECONDS = 2


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), **changes}
    return urlunsplit(parts._replace(query=urlencode(query)))


def _tampered(url: str) -> str:
    query = dict(parse_qsl(urlsplit(url).query))
    name = "X-Amz-Signature" if "X-Amz-Signature" in query else "signature"
    flipped = ("0" if query[name][0] != "0" else "1") + query[name][1:]
    return _with_query(url, **{name: flipped})


async def _fetch(stack: ApiStack, url: str) -> httpx.Response:
    # The local store's URLs are served by the app itself; S3's by the real SeaweedFS server.
    if url.startswith(str(stack.client.base_url)):
        return await stack.client.get(url)
    async with httpx.AsyncClient() as client:
        return await client.get(url)


async def test_presigned_urls_work_then_expire_and_refuse_tampering(
    stack: ApiStack, audio_dir: Path
) -> None:
    flac = audio_dir / "asr_en" / "jfk.flac"
    uploaded = await stack.upload(await stack.tenant(), flac)
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(uploaded.json()["id"]))
        assert meeting is not None

    url = await stack.ctx.storage.presigned_get_url(meeting.audio_key, expires_in=TTL_SECONDS)
    issued = time.time()
    fresh = await _fetch(stack, url)
    assert fresh.status_code == 200 and fresh.content == flac.read_bytes()
    assert (await _fetch(stack, _tampered(url))).status_code == 403
    if stack.settings.uses_s3:
        assert "X-Amz-Expires=2" in url
    else:  # the signature covers the expiry time: it cannot be pushed back
        pushed = _with_query(url, expires=str(int(issued) + 3600))
        assert (await _fetch(stack, pushed)).status_code == 403

    await asyncio.sleep(max(0.0, issued + TTL_SECONDS + 1.5 - time.time()))
    expired = await _fetch(stack, url)
    assert expired.status_code == 403
    assert flac.read_bytes()[:1000] not in expired.content
