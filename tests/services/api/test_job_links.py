"""A job carries a link signed for it alone; each fetch redirects to a presigned URL that lives
minutes, and once the job is over the link is spent."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from services.api.db.models import Meeting
from tests.services.api.conftest import ApiStack
from tests.services.api.helpers import completed

pytestmark = pytest.mark.anyio


def _expires_in(presigned: str) -> float:
    """Seconds the presigned URL has left, read from the URL itself (S3 or the local store)."""
    query = parse_qs(urlsplit(presigned).query)
    if "X-Amz-Expires" in query:
        return float(query["X-Amz-Expires"][0])
    return float(query["expires"][0]) - time.time()


async def test_a_job_link_gives_fresh_short_links_while_the_job_runs(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    flac = audio_dir / "asr_en" / "jfk.flac"
    await stack.upload(headers, flac)
    assert await stack.ctx.relay.relay_once() == 1
    job = stack.broker.published[0]
    parts = urlsplit(job.audio_url)
    assert "X-Amz" not in job.audio_url and parts.path == f"/v1/jobs/{job.job_id}/audio"
    link = f"{parts.path}?{parts.query}"

    first = await stack.client.get(link)
    assert first.status_code == 307
    ttl = stack.settings.presign_ttl_seconds
    assert ttl <= 15 * 60  # minutes, not a day
    assert 0 < _expires_in(first.headers["location"]) <= ttl
    time.sleep(1.1)  # a retry a moment later gets a link of its own
    second = await stack.client.get(link)
    assert second.headers["location"] != first.headers["location"]
    if stack.settings.uses_s3:
        async with httpx.AsyncClient() as client:
            body = (await client.get(second.headers["location"])).content
    else:
        body = (await stack.client.get(second.headers["location"])).content
    assert body == flac.read_bytes()

    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, job.meeting_id)
        assert meeting is not None
    await stack.broker.deliver(completed(meeting))
    spent = await stack.client.get(link)
    assert spent.status_code == 410  # the job is over: a leaked message is worth nothing
