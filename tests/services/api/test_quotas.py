"""Per-tenant quotas on the real app: bots scheduled or running, open event streams, recording
bytes a day, and each tenant's share of the bot slots. Past a quota: 429 with Retry-After."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.api.db.models import Bot, Meeting
from services.bots.controller.backends.base import RunnerHandle
from services.bots.controller.backends.local import LocalProcessBackend
from services.bots.controller.controller import MeetingController
from tests.services.api.conftest import make_settings, open_stack
from tests.services.api.helpers import completed, write_noise_wav
from tests.services.bots.test_routes import _ics, _stamp, controller_settings

pytestmark = pytest.mark.anyio

LATER = (datetime.now(UTC) + timedelta(days=2)).isoformat()


def _retry_after(headers: httpx.Headers) -> int:
    return int(headers["retry-after"])


async def test_scheduled_bots_are_capped_per_tenant(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path, quota_bots_pending=2)
    async with open_stack(settings, controller_settings=controller_settings(tmp_path)) as stack:
        acme, globex = await stack.tenant("acme"), await stack.tenant("globex")
        body = {"meeting_url": "https://meet.example.com/x", "join_at": LATER}
        made = [await stack.client.post("/v1/bots", headers=acme, json=body) for _ in range(3)]
        assert [m.status_code for m in made] == [201, 201, 429]
        assert _retry_after(made[2].headers) >= 1
        assert "MINUTA_QUOTA_BOTS_PENDING" in made[2].json()["detail"]
        # Another tenant has its own quota; a cancelled bot frees its place.
        assert (await stack.client.post("/v1/bots", headers=globex, json=body)).status_code == 201
        await stack.client.delete(f"/v1/bots/{made[0].json()['id']}", headers=acme)
        assert (await stack.client.post("/v1/bots", headers=acme, json=body)).status_code == 201

        # A calendar cannot go around it: the events past the quota are skipped, saying why.
        start = datetime.now(UTC) + timedelta(days=1)
        calendar = _ics(
            *(
                f"UID:q-{i}\nDTSTART:{_stamp(start)}\nURL:https://meet.google.com/abc-defg-hi{i}"
                for i in range(3)
            )
        )
        answer = await stack.client.post(
            "/v1/bots/calendar",
            headers=globex,
            files={"file": ("cal.ics", calendar, "text/calendar")},
        )
        assert answer.status_code == 200, answer.text
        outcome = answer.json()
        assert len(outcome["created"]) == 1
        assert sum("quota" in s["why"] for s in outcome["skipped"]) == 2
        full = await stack.client.post(
            "/v1/bots/calendar",
            headers=globex,
            files={"file": ("cal.ics", calendar, "text/calendar")},
        )
        assert full.status_code == 429


async def test_open_event_streams_are_capped_per_tenant(
    request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path, quota_event_streams=2)
    async with open_stack(settings) as stack:
        acme = await stack.tenant("acme")
        answer = await stack.upload(acme, audio_dir / "asr_en" / "jfk.flac")
        url = f"/v1/meetings/{answer.json()['id']}/events"
        streams = [
            asyncio.create_task(stack.client.get(url, headers=acme, timeout=30)) for _ in range(2)
        ]
        await asyncio.sleep(0.5)
        third = await stack.client.get(url, headers=acme)
        assert third.status_code == 429 and _retry_after(third.headers) >= 1
        assert "MINUTA_QUOTA_EVENT_STREAMS" in third.json()["detail"]
        async with stack.ctx.sessionmaker() as session:
            meeting = await session.get(Meeting, uuid.UUID(answer.json()["id"]))
            assert meeting is not None
        await stack.broker.deliver(completed(meeting))
        assert [s.status_code for s in await asyncio.gather(*streams)] == [200, 200]
        # Both streams ended: their places are free again.
        again = await stack.client.get(url, headers=acme)
        assert again.status_code == 200 and "completed" in again.text


async def test_recording_bytes_are_capped_per_tenant_and_day(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path, quota_upload_bytes_per_day=150_000)
    async with open_stack(settings) as stack:
        acme, globex = await stack.tenant("acme"), await stack.tenant("globex")
        wav = write_noise_wav(tmp_path / "noise.wav", 100_000)
        assert (await stack.upload(acme, wav)).status_code == 202
        over = await stack.upload(acme, wav)  # 100 000 more bytes, 50 000 left
        assert over.status_code == 429 and _retry_after(over.headers) >= 1
        assert "MINUTA_QUOTA_UPLOAD_BYTES_PER_DAY" in over.json()["detail"]
        small = write_noise_wav(tmp_path / "small.wav", 40_000)
        assert (await stack.upload(acme, small)).status_code == 202
        assert (await stack.upload(acme, small)).status_code == 429  # 10 000 left
        assert (await stack.upload(globex, wav)).status_code == 202  # its own quota


async def test_one_tenant_cannot_take_every_bot_slot(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path)
    controller_conf = controller_settings(tmp_path, bot_concurrency=3, bot_tenant_concurrency=2)
    async with open_stack(settings, controller_settings=controller_conf) as stack:
        controller: MeetingController = stack.app.state.bot_controller
        backend = controller.backend
        assert isinstance(backend, LocalProcessBackend)
        acme, globex = await stack.tenant("acme"), await stack.tenant("globex")
        silent = {"meeting_url": "https://x.test/silent"}
        for _ in range(3):
            await stack.client.post("/v1/bots", headers=acme, json=silent)
        late = await stack.client.post("/v1/bots", headers=globex, json=silent)
        report = await controller.tick()
        try:
            assert len(report.launched) == 3
            # acme's third bot waits; globex's, created last, got the free slot.
            assert uuid.UUID(late.json()["id"]) in report.launched
            listed = (await stack.client.get("/v1/bots", headers=acme)).json()["items"]
            assert sorted(b["state"] for b in listed) == ["launching", "launching", "scheduled"]
        finally:
            async with stack.ctx.sessionmaker() as session:
                handles = await session.scalars(
                    select(Bot.runner_handle).where(Bot.runner_handle.is_not(None))
                )
                for handle in handles:
                    backend.stop(RunnerHandle("local", str(handle)))
