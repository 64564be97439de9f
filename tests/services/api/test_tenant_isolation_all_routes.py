"""Every route of the real app, called as tenant B with tenant A's real ids.

`build_probes()` says how each route is tried; a route of the app missing from it fails the test
(a new route must say how it keeps tenants apart), and so does a probe for a route that is gone.
Resources of A are made through the API (a completed meeting, a named person, a webhook, bots
from the API and from a calendar, a retention policy); afterwards A's view of all of them must be
exactly what it was, and no answer given to B may contain any of A's ids.

The search worker is a mock that answers with passages of whatever meeting it is asked about
(A's included), as a worker that forgot the tenant filter would: the API must still show B none.
The real worker's filter is tested in test_search.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select, update

from core.contracts import SearchHitMsg, SearchReply, SearchRequest
from services.api.app import create_app
from services.api.db.models import Bot, Meeting
from services.api.settings import ApiSettings
from services.bots.tokens import hash_token, new_token
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.api.fakes import RecordingBrokerFake
from tests.services.api.helpers import completed

pytestmark = pytest.mark.anyio

SPEAKER = "SPEAKER_00"
CALENDAR_UID = "shared-uid-1@example.org"


class LeakySearchWorkerMock(RecordingBrokerFake):
    """Answers every search with a passage of each meeting id it was given, any tenant's."""

    def __init__(self) -> None:
        super().__init__()
        self.searches: list[SearchRequest] = []

    async def rpc_call(self, queue: str, body: bytes, timeout: float | None = None) -> bytes:
        request = SearchRequest.model_validate_json(body)
        self.searches.append(request)
        hits = [
            SearchHitMsg(meeting_id=m, start=0.0, end=1.0, speaker=SPEAKER, text="x", score=0.9)
            for m in request.meeting_ids or []
        ]
        return SearchReply(hits=hits).model_dump_json().encode()


@dataclass
class World:
    stack: ApiStack
    broker: LeakySearchWorkerMock
    audio_dir: Path
    a: dict[str, str]
    b: dict[str, str]
    meeting: str = ""
    audio_key: str = ""
    person: str = ""
    webhook: str = ""
    bot: str = ""
    calendar_bot: str = ""
    b_person: str = ""
    b_tenant: uuid.UUID | None = None
    b_bot_auth: dict[str, str] = field(default_factory=dict)
    answers_to_b: list[httpx.Response] = field(default_factory=list)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.stack.client

    @property
    def a_ids(self) -> list[str]:
        return [self.meeting, self.person, self.webhook, self.bot, self.calendar_bot]

    async def as_b(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.b, **kwargs.pop("headers", {})}
        answer = await self.client.request(method, url, headers=headers, **kwargs)
        self.answers_to_b.append(answer)
        return answer

    async def hidden(
        self, method: str, template: str, real: dict[str, str], status: int = 404, **kw: Any
    ) -> None:
        """B gets `status` for A's ids, exactly as for ids that do not exist."""
        fake = {name: str(uuid.uuid4()) for name in real}
        got = await self.as_b(method, template.format(**real), **kw)
        missing = await self.as_b(method, template.format(**fake), **kw)
        assert got.status_code == status, (template, got.status_code)
        assert got.json() == missing.json(), template


def _ics(start: datetime) -> bytes:
    stamp = start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{CALENDAR_UID}\r\nDTSTART:{stamp}\r\nSUMMARY:Weekly\r\n"
        "LOCATION:https://meet.google.com/abc-defg-hij\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


async def _completed_meeting(stack: ApiStack, headers: dict[str, str], audio: Path) -> Meeting:
    answer = await stack.upload(headers, audio, title="Board meeting")
    assert answer.status_code == 202, answer.text
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(answer.json()["id"]))
        assert meeting is not None
    await stack.broker.deliver(completed(meeting))
    return meeting


async def _named_person(
    stack: ApiStack, headers: dict[str, str], meeting: Meeting, name: str
) -> str:
    named = await stack.client.patch(
        f"/v1/meetings/{meeting.id}/speakers/{SPEAKER}", headers=headers, json={"name": name}
    )
    assert named.status_code == 200, named.text
    return str(named.json()["person_id"])


async def _armed_bot(stack: ApiStack, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A bot as the controller leaves it after a launch (recording, with a token)."""
    made = await stack.client.post(
        "/v1/bots", headers=headers, json={"meeting_url": "https://meet.jit.si/MinutaRoom"}
    )
    assert made.status_code == 201, made.text
    token = new_token()
    async with stack.ctx.sessionmaker() as session, session.begin():
        await session.execute(
            update(Bot)
            .where(Bot.id == uuid.UUID(made.json()["id"]))
            .values(state="recording", token_hash=hash_token(token))
        )
    return str(made.json()["id"]), {"Authorization": f"Bot {token}"}


async def _build_world(stack: ApiStack, broker: LeakySearchWorkerMock, audio_dir: Path) -> World:
    w = World(stack, broker, audio_dir, a=await stack.tenant("a"), b=await stack.tenant("b"))
    flac = audio_dir / "asr_en" / "jfk.flac"
    meeting = await _completed_meeting(stack, w.a, flac)
    w.meeting, w.audio_key = str(meeting.id), meeting.audio_key
    w.person = await _named_person(stack, w.a, meeting, "Alice")
    b_meeting = await _completed_meeting(stack, w.b, flac)
    w.b_tenant = b_meeting.tenant_id
    w.b_person = await _named_person(stack, w.b, b_meeting, "Bob")
    hook = await stack.client.post(
        "/v1/webhooks", headers=w.a, json={"url": "http://127.0.0.1:9/hook"}
    )
    assert hook.status_code == 201
    w.webhook = hook.json()["id"]
    w.bot, _ = await _armed_bot(stack, w.a)
    _, w.b_bot_auth = await _armed_bot(stack, w.b)
    imported = await stack.client.post(
        "/v1/bots/calendar",
        headers={**w.a, "Content-Type": "text/calendar"},
        content=_ics(datetime.now(UTC) + timedelta(days=1)),
    )
    assert imported.status_code == 200, imported.text
    w.calendar_bot = imported.json()["created"][0]["id"]
    policy = await stack.client.put(
        "/v1/tenant/retention", headers=w.a, json={"days": 30, "scope": "recording"}
    )
    assert policy.status_code == 200, policy.text
    return w


async def _view_of_a(w: World) -> dict[str, Any]:
    """Everything A can see of its resources, plus the bot rows the callbacks would touch."""
    a, client = w.a, w.client
    view: dict[str, Any] = {}
    for name, url in {
        "meeting": f"/v1/meetings/{w.meeting}",
        "meetings": "/v1/meetings",
        "persons": "/v1/persons",
        "webhooks": "/v1/webhooks",
        "deliveries": f"/v1/webhooks/{w.webhook}/deliveries",
        "bots": "/v1/bots",
        "retention": "/v1/tenant/retention",
    }.items():
        answer = await client.get(url, headers=a)
        assert answer.status_code == 200, (url, answer.text)
        view[name] = answer.json()
    async with w.stack.ctx.sessionmaker() as session:
        bots = await session.scalars(
            select(Bot).where(Bot.id.in_([uuid.UUID(w.bot), uuid.UUID(w.calendar_bot)]))
        )
        view["bot_rows"] = sorted(
            (str(b.id), b.state, b.last_heartbeat_at, b.meeting_id, b.leave_requested) for b in bots
        )
    view["audio"] = await w.stack.stored_bytes(w.audio_key) is not None
    return view


# How each route is tried as B. Probes that take A's ids must get 404 (403 for the bot's own
# callbacks) exactly like unknown ids; the others must act on B's data only.

Probe = Callable[[World], Awaitable[None]]


async def _upload_as_b(w: World) -> None:
    answer = await w.stack.upload(w.b, w.audio_dir / "asr_en" / "jfk.flac", title="B's")
    w.answers_to_b.append(answer)
    assert answer.status_code == 202
    assert (
        await w.client.get(f"/v1/meetings/{answer.json()['id']}", headers=w.a)
    ).status_code == 404


async def _list_meetings(w: World) -> None:
    answer = await w.as_b("GET", "/v1/meetings", params={"limit": 100})
    assert answer.status_code == 200 and w.meeting not in {m["id"] for m in answer.json()["items"]}


def _meeting_route(method: str, suffix: str = "", **kw: Any) -> Probe:
    async def probe(w: World) -> None:
        await w.hidden(method, "/v1/meetings/{m}" + suffix, {"m": w.meeting}, **kw)

    return probe


async def _rename_speaker(w: World) -> None:
    await w.hidden(
        "PATCH", "/v1/meetings/{m}/speakers/" + SPEAKER, {"m": w.meeting}, json={"name": "Eve"}
    )


async def _list_persons(w: World) -> None:
    answer = await w.as_b("GET", "/v1/persons")
    assert answer.status_code == 200
    assert [p["id"] for p in answer.json()["items"]] == [w.b_person]


async def _rename_person(w: World) -> None:
    await w.hidden("PATCH", "/v1/persons/{p}", {"p": w.person}, json={"name": "Eve"})


async def _merge_persons(w: World) -> None:
    # A's person into B's, and B's person into A's: neither exists for B.
    await w.hidden("POST", "/v1/persons/{p}/merge", {"p": w.person}, json={"into": w.b_person})
    into_a = await w.as_b("POST", f"/v1/persons/{w.b_person}/merge", json={"into": w.person})
    assert into_a.status_code == 404
    assert w.b_person in {p["id"] for p in (await w.as_b("GET", "/v1/persons")).json()["items"]}


async def _delete_person(w: World) -> None:
    await w.hidden("DELETE", "/v1/persons/{p}", {"p": w.person})


async def _read_person(w: World) -> None:
    await w.hidden("GET", "/v1/persons/{p}", {"p": w.person})


def _proposal_route(method: str, suffix: str) -> Probe:
    # A's person with any proposal id (tests/services/api/test_proposals.py tries A's real ones).
    async def probe(w: World) -> None:
        real = {"p": w.person} | ({"q": str(uuid.uuid4())} if "{q}" in suffix else {})
        await w.hidden(method, "/v1/persons/{p}" + suffix, real)

    return probe


async def _search(w: World) -> None:
    answer = await w.as_b("GET", "/v1/search", params={"q": "budget", "meeting_id": w.meeting})
    assert answer.status_code == 200, answer.text
    assert answer.json()["hits"] == []  # the mock worker returned A's passage; the API dropped it
    assert w.broker.searches[-1].tenant_id == w.b_tenant  # never a parameter B could set


async def _create_webhook(w: World) -> None:
    answer = await w.as_b("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/b"})
    assert answer.status_code == 201
    assert answer.json()["id"] not in {h["id"] for h in (await _view_of_a(w))["webhooks"]}


async def _list_webhooks(w: World) -> None:
    answer = await w.as_b("GET", "/v1/webhooks")
    assert answer.status_code == 200 and w.webhook not in {h["id"] for h in answer.json()}


def _webhook_route(method: str, suffix: str = "") -> Probe:
    async def probe(w: World) -> None:
        await w.hidden(method, "/v1/webhooks/{h}" + suffix, {"h": w.webhook})

    return probe


async def _create_bot(w: World) -> None:
    answer = await w.as_b("POST", "/v1/bots", json={"meeting_url": "https://meet.jit.si/B"})
    assert answer.status_code == 201
    assert (await w.client.get(f"/v1/bots/{answer.json()['id']}", headers=w.a)).status_code == 404


async def _list_bots(w: World) -> None:
    answer = await w.as_b("GET", "/v1/bots", params={"limit": 200})
    assert answer.status_code == 200
    assert not {w.bot, w.calendar_bot} & {b["id"] for b in answer.json()["items"]}


def _bot_route(method: str) -> Probe:
    async def probe(w: World) -> None:
        for bot in (w.bot, w.calendar_bot):
            await w.hidden(method, "/v1/bots/{b}", {"b": bot})

    return probe


async def _import_calendar(w: World) -> None:
    # The same event UID as A's import: B gets a bot of its own, A's is neither matched nor moved.
    answer = await w.as_b(
        "POST",
        "/v1/bots/calendar",
        headers={"Content-Type": "text/calendar"},
        content=_ics(datetime.now(UTC) + timedelta(days=2)),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["created"]) == 1 and body["updated"] == [] and body["unchanged"] == 0
    assert body["created"][0]["id"] != w.calendar_bot


def _bot_callback(suffix: str, **kw: Any) -> Probe:
    """B's *bot token* on A's bot: 403, like any token that is not the bot's."""

    async def probe(w: World) -> None:
        await w.hidden(
            "POST", "/v1/bots/{b}" + suffix, {"b": w.bot}, 403, headers=w.b_bot_auth, **kw
        )

    return probe


async def _bot_recording(w: World) -> None:
    flac = (w.audio_dir / "asr_en" / "jfk.flac").read_bytes()
    for bot in (w.bot, str(uuid.uuid4())):
        answer = await w.as_b(
            "POST",
            f"/v1/bots/{bot}/recording",
            headers=w.b_bot_auth,
            files={"file": ("jfk.flac", flac, "audio/flac")},
        )
        assert answer.status_code == 403, answer.text


async def _read_retention(w: World) -> None:
    answer = await w.as_b("GET", "/v1/tenant/retention")
    assert answer.status_code == 200 and answer.json()["days"] is None  # B's own default


async def _replace_retention(w: World) -> None:
    answer = await w.as_b("PUT", "/v1/tenant/retention", json={"days": 1, "scope": "everything"})
    assert answer.status_code == 200  # B's policy; A's stays 30 days (checked at the end)


async def _signed_file(w: World) -> None:
    """A signed link is a capability B cannot get (the audio route is a 404 for B); without a
    valid signature the file is refused, and a link is bound to its key."""
    link = (await w.client.get(f"/v1/meetings/{w.meeting}/audio", headers=w.a)).json()["url"]
    parts = urlsplit(link)
    path, query = parts.path, dict(q.split("=", 1) for q in parts.query.split("&"))
    assert (await w.client.get(f"{path}?{parts.query}")).status_code == 200  # the probe can fail
    forged = {**query, "signature": "0" * 64}
    assert (await w.as_b("GET", path, params=forged)).status_code == 403
    other_key = path.replace(w.meeting, str(uuid.uuid4()))
    assert (await w.as_b("GET", other_key, params=query)).status_code == 403
    expired = {**query, "expires": "1"}
    assert (await w.as_b("GET", path, params=expired)).status_code == 403


async def _job_link(w: World) -> None:
    """A job's link is signed for that job alone and spent once the job is over; nothing of it
    can be bent to another job."""
    async with w.stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(w.meeting))
        assert meeting is not None
        job_id = meeting.job_id
    parts = urlsplit(w.stack.ctx.job_links.url(job_id))
    path, query = parts.path, dict(q.split("=", 1) for q in parts.query.split("&"))
    assert (await w.as_b("GET", path, params=query)).status_code == 410  # completed: spent
    forged = {**query, "signature": "0" * 64}
    assert (await w.as_b("GET", path, params=forged)).status_code == 403
    other_job = path.replace(str(job_id), str(uuid.uuid4()))
    assert (await w.as_b("GET", other_job, params=query)).status_code == 403
    expired = {**query, "expires": "1"}
    assert (await w.as_b("GET", path, params=expired)).status_code == 403


def _public(url: str) -> Probe:
    """Routes without tenant data: probes, metrics, the web UI shell and its config."""

    async def probe(w: World) -> None:
        answer = await w.as_b("GET", url)
        assert answer.status_code in (200, 307), (url, answer.status_code)

    return probe


def build_probes() -> dict[tuple[str, str], Probe]:
    return {
        ("POST", "/v1/meetings"): _upload_as_b,
        ("GET", "/v1/meetings"): _list_meetings,
        ("GET", "/v1/meetings/{meeting_id}"): _meeting_route("GET"),
        ("GET", "/v1/meetings/{meeting_id}/export"): _meeting_route(
            "GET", "/export", params={"format": "json"}
        ),
        ("PATCH", "/v1/meetings/{meeting_id}"): _meeting_route("PATCH", json={"title": "stolen"}),
        ("PATCH", "/v1/meetings/{meeting_id}/speakers/{label}"): _rename_speaker,
        ("DELETE", "/v1/meetings/{meeting_id}"): _meeting_route("DELETE"),
        ("GET", "/v1/meetings/{meeting_id}/events"): _meeting_route("GET", "/events"),
        ("GET", "/v1/meetings/{meeting_id}/audio"): _meeting_route("GET", "/audio"),
        ("GET", "/v1/persons"): _list_persons,
        ("PATCH", "/v1/persons/{person_id}"): _rename_person,
        ("POST", "/v1/persons/{person_id}/merge"): _merge_persons,
        ("DELETE", "/v1/persons/{person_id}"): _delete_person,
        ("GET", "/v1/persons/{person_id}"): _read_person,
        ("GET", "/v1/persons/{person_id}/proposals"): _proposal_route("GET", "/proposals"),
        ("POST", "/v1/persons/{person_id}/proposals/{proposal_id}/confirm"): _proposal_route(
            "POST", "/proposals/{q}/confirm"
        ),
        ("POST", "/v1/persons/{person_id}/proposals/{proposal_id}/reject"): _proposal_route(
            "POST", "/proposals/{q}/reject"
        ),
        ("GET", "/v1/search"): _search,
        ("POST", "/v1/webhooks"): _create_webhook,
        ("GET", "/v1/webhooks"): _list_webhooks,
        ("GET", "/v1/webhooks/{webhook_id}"): _webhook_route("GET"),
        ("DELETE", "/v1/webhooks/{webhook_id}"): _webhook_route("DELETE"),
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"): _webhook_route("GET", "/deliveries"),
        ("POST", "/v1/bots"): _create_bot,
        ("GET", "/v1/bots"): _list_bots,
        ("GET", "/v1/bots/{bot_id}"): _bot_route("GET"),
        ("DELETE", "/v1/bots/{bot_id}"): _bot_route("DELETE"),
        ("POST", "/v1/bots/calendar"): _import_calendar,
        ("POST", "/v1/bots/{bot_id}/events"): _bot_callback(
            "/events", json={"state": "failed", "reason": "cancelled"}
        ),
        ("POST", "/v1/bots/{bot_id}/heartbeat"): _bot_callback("/heartbeat"),
        ("POST", "/v1/bots/{bot_id}/recording"): _bot_recording,
        ("GET", "/v1/tenant/retention"): _read_retention,
        ("PUT", "/v1/tenant/retention"): _replace_retention,
        ("GET", "/internal/files/{key:path}"): _signed_file,
        ("GET", "/v1/jobs/{job_id}/audio"): _job_link,
        ("GET", "/healthz"): _public("/healthz"),
        ("GET", "/readyz"): _public("/readyz"),
        ("GET", "/metrics"): _public("/metrics"),
        ("GET", "/"): _public("/"),
        ("GET", "/app"): _public("/app"),
        ("GET", "/app/"): _public("/app/"),
        ("GET", "/app/config.json"): _public("/app/config.json"),
    }


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every APIRoute the app serves, included routers flattened."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            assert context.path is not None
            found |= {(m, context.path) for m in context.methods or ()}
    return found


@pytest.fixture
async def world(api_settings: ApiSettings, audio_dir: Path) -> AsyncIterator[World]:
    broker = LeakySearchWorkerMock()
    async with open_stack(api_settings, broker=broker) as stack:
        yield await _build_world(stack, broker, audio_dir)


async def test_every_route_keeps_tenant_a_from_tenant_b_with_a_mock_search_worker(
    world: World,
) -> None:
    probes = build_probes()
    routes = app_routes(world.stack.app)
    uncovered = sorted(routes - probes.keys())
    assert not uncovered, (
        f"routes without a tenant-isolation probe (add them to build_probes): {uncovered}"
    )
    optional = {("GET", "/internal/files/{key:path}")}  # only with the local folder storage
    stale = sorted(probes.keys() - routes - optional)
    assert not stale, f"probes for routes the app no longer has: {stale}"

    before = await _view_of_a(world)
    assert before["audio"] and before["retention"]["days"] == 30
    for route in sorted(routes):
        asked = len(world.answers_to_b)
        await probes[route](world)
        assert len(world.answers_to_b) > asked, f"{route}: the probe never asked as B"
    assert await _view_of_a(world) == before

    leaked = [
        (answer.request.method, answer.request.url.path, a_id)
        for answer in world.answers_to_b
        for a_id in world.a_ids
        # A's ids may appear in the URL B asked for, never in what B was given.
        if a_id in answer.text or a_id in json.dumps(dict(answer.headers))
    ]
    assert leaked == []


def test_the_route_table_fails_for_an_unknown_route(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The guard itself: a route added to the app without a probe is reported."""
    app = create_app(make_settings("sqlite-local", request, tmp_path), broker=RecordingBrokerFake())
    assert app_routes(app) - build_probes().keys() == set()

    @app.get("/v1/meetings/{meeting_id}/secret-new-thing")
    async def new_thing(meeting_id: uuid.UUID) -> dict[str, str]:
        return {"id": str(meeting_id)}

    assert app_routes(app) - build_probes().keys() == {
        ("GET", "/v1/meetings/{meeting_id}/secret-new-thing")
    }
