"""Webhooks: registered per tenant, signed, retried with backoff, every attempt logged."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.api.db.models import Meeting
from services.api.webhooks import SIGNATURE_HEADER, sign, verify_signature
from services.egress import EgressPolicy
from tests.egress_fakes import PUBLIC_TEST_ADDRESS
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.api.helpers import completed
from tests.services.api.test_events import _failed

pytestmark = pytest.mark.anyio


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on loopback answering with the queued status codes (then 200)."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(Received({k: v for k, v in self.headers.items()}, body))
            code = state.statuses.pop(0) if state.statuses else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/minuta"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


async def _meeting(stack: ApiStack, headers: dict[str, str], audio_dir: Path) -> Meeting:
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title="Sync")
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
        assert meeting is not None
        return meeting


async def test_completed_webhook_is_signed_retried_and_logged(
    stack: ApiStack, audio_dir: Path, receiver: Receiver
) -> None:
    headers = await stack.tenant()
    created = await stack.client.post(
        "/v1/webhooks",
        headers=headers,
        json={"url": receiver.url, "events": ["meeting.completed"], "description": "ops"},
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    listed = (await stack.client.get("/v1/webhooks", headers=headers)).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]

    receiver.statuses = [500, 503]  # two failures, then success
    meeting = await _meeting(stack, headers, audio_dir)
    await stack.broker.deliver(completed(meeting))
    await stack.broker.deliver(completed(meeting))  # redelivered: no second webhook
    await stack.ctx.webhooks.drain()

    assert len(receiver.received) == 3
    for got in receiver.received:
        assert got.headers["Minuta-Event"] == "meeting.completed"
        assert verify_signature(secret, got.headers[SIGNATURE_HEADER], got.body)
        assert not verify_signature("whsec_wrong", got.headers[SIGNATURE_HEADER], got.body)
        assert not verify_signature(secret, got.headers[SIGNATURE_HEADER], got.body + b" ")
    assert len({r.headers["Minuta-Delivery"] for r in receiver.received}) == 1
    payload = json.loads(receiver.received[-1].body)
    assert payload["type"] == "meeting.completed"
    assert payload["data"]["meeting"]["id"] == str(meeting.id)
    assert payload["data"]["meeting"]["status"] == "completed"
    assert payload["data"]["meeting"]["title"] == "Sync"

    deliveries = await stack.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=headers)
    assert deliveries.status_code == 200
    log = deliveries.json()
    assert [(d["attempt"], d["status_code"], d["success"]) for d in log] == [
        (3, 200, True),
        (2, 503, False),
        (1, 500, False),
    ]
    assert log[2]["error"] == "http_status"  # a code; the status is its own field
    assert len({d["delivery_id"] for d in log}) == 1
    assert all(d["meeting_id"] == str(meeting.id) for d in log)


async def test_failed_webhook_gives_up_after_the_last_attempt(
    stack: ApiStack, audio_dir: Path, receiver: Receiver
) -> None:
    headers = await stack.tenant()
    failed_hook = (
        await stack.client.post(
            "/v1/webhooks",
            headers=headers,
            json={"url": receiver.url, "events": ["meeting.failed"]},
        )
    ).json()
    completed_only = (
        await stack.client.post(
            "/v1/webhooks",
            headers=headers,
            json={"url": receiver.url + "/other", "events": ["meeting.completed"]},
        )
    ).json()
    receiver.statuses = [500] * 10
    meeting = await _meeting(stack, headers, audio_dir)
    await stack.broker.deliver(_failed(meeting, will_retry=False))
    await stack.ctx.webhooks.drain()

    attempts = stack.settings.webhook_max_attempts
    assert len(receiver.received) == attempts
    assert all(r.headers["Minuta-Event"] == "meeting.failed" for r in receiver.received)
    payload = json.loads(receiver.received[0].body)
    assert payload["data"]["meeting"]["error"] == "the audio is corrupt"
    log = (
        await stack.client.get(f"/v1/webhooks/{failed_hook['id']}/deliveries", headers=headers)
    ).json()
    assert len(log) == attempts and not any(d["success"] for d in log)
    other = await stack.client.get(
        f"/v1/webhooks/{completed_only['id']}/deliveries", headers=headers
    )
    assert other.json() == []


async def test_unreachable_receiver_is_logged_as_an_error(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    hook = (
        await stack.client.post(
            "/v1/webhooks", headers=headers, json={"url": "http://127.0.0.1:9/closed"}
        )
    ).json()
    assert sorted(hook["events"]) == ["meeting.completed", "meeting.failed"]
    meeting = await _meeting(stack, headers, audio_dir)
    await stack.broker.deliver(completed(meeting))
    await stack.ctx.webhooks.drain()
    log = (await stack.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=headers)).json()
    assert len(log) == stack.settings.webhook_max_attempts
    # A code, never the network's own words (they would map this machine's ports).
    assert all(d["status_code"] is None and d["error"] == "connect_failed" for d in log)


async def test_webhooks_are_per_tenant(stack: ApiStack, receiver: Receiver) -> None:
    a = await stack.tenant("a")
    b = await stack.tenant("b")
    hook = (await stack.client.post("/v1/webhooks", headers=a, json={"url": receiver.url})).json()
    base = f"/v1/webhooks/{hook['id']}"
    assert (await stack.client.get("/v1/webhooks", headers=b)).json() == []
    assert (await stack.client.get(base, headers=b)).status_code == 404
    assert (await stack.client.get(f"{base}/deliveries", headers=b)).status_code == 404
    assert (await stack.client.delete(base, headers=b)).status_code == 404
    assert (await stack.client.delete(base, headers=a)).status_code == 204
    assert (await stack.client.get(base, headers=a)).status_code == 404


async def test_webhook_input_is_validated(stack: ApiStack) -> None:
    headers = await stack.tenant()
    for body in (
        {"url": "not a url"},
        {"url": "ftp://example.org/x"},
        {"url": "http://example.org/x", "events": ["meeting.exploded"]},
        {"url": "http://example.org/x", "events": []},
    ):
        response = await stack.client.post("/v1/webhooks", headers=headers, json=body)
        assert response.status_code == 422, body


def test_signature_rejects_old_timestamps() -> None:
    body = b'{"a":1}'
    header = sign("whsec_x", 1_000_000, body)
    assert verify_signature("whsec_x", header, body, now=1_000_100)
    assert not verify_signature("whsec_x", header, body, now=1_000_000 + 301)
    assert not verify_signature("whsec_x", "garbage", body)


async def test_a_real_delivery_verifies_as_documented_and_fails_when_stale_or_tampered(
    stack: ApiStack, audio_dir: Path, receiver: Receiver
) -> None:
    """What a receiver does by hand from the docs: HMAC-SHA256(secret, "<t>.<raw body>")."""
    headers = await stack.tenant()
    secret = (
        await stack.client.post("/v1/webhooks", headers=headers, json={"url": receiver.url})
    ).json()["secret"]
    meeting = await _meeting(stack, headers, audio_dir)
    await stack.broker.deliver(completed(meeting))
    await stack.ctx.webhooks.drain()
    assert len(receiver.received) == 1
    got = receiver.received[0]
    fields = dict(part.split("=", 1) for part in got.headers[SIGNATURE_HEADER].split(","))
    timestamp = int(fields["t"])
    assert abs(time.time() - timestamp) < 60
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + got.body, hashlib.sha256)
    assert hmac.compare_digest(expected.hexdigest(), fields["v1"])

    header = got.headers[SIGNATURE_HEADER]
    assert verify_signature(secret, header, got.body)
    # Replayed six minutes later: refused, though the signature itself is right.
    assert not verify_signature(secret, header, got.body, now=timestamp + 360)
    tampered = got.body.replace(str(meeting.id).encode(), str(uuid.uuid4()).encode())
    assert tampered != got.body and not verify_signature(secret, header, tampered)
    # A re-signed header with an old time cannot be made without the secret.
    forged = header.replace(f"t={timestamp}", f"t={timestamp + 1}")
    assert not verify_signature(secret, forged, got.body)


# The egress policy (services/egress): without MINUTA_EGRESS_ALLOW_CIDRS nothing inward is taken.
INWARD_URLS = [
    "http://127.0.0.1:9/hook",
    "http://localhost:9/hook",
    "http://[::1]:9/hook",
    "http://[::ffff:127.0.0.1]:9/hook",
    "http://2130706433:9/hook",
    "http://0x7f000001:9/hook",
    "http://127.1:9/hook",
    "http://0177.0.0.1:9/hook",
    "http://0.0.0.0:9/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/hook",
    "http://192.168.0.1/hook",
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://user:secret@hooks.example.com/hook",
]


@pytest.fixture
async def closed_stack(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ApiStack]:
    """The API as shipped: no allow-list, so only public addresses may be reached."""
    settings = make_settings(backend, request, tmp_path, egress_allow_cidrs="")
    async with open_stack(settings) as opened:
        yield opened


async def test_inward_webhook_urls_are_refused_with_422(closed_stack: ApiStack) -> None:
    headers = await closed_stack.tenant()
    for url in INWARD_URLS:
        answer = await closed_stack.client.post("/v1/webhooks", headers=headers, json={"url": url})
        assert answer.status_code == 422, (url, answer.text)
        detail = answer.json()["detail"]
        assert "webhook url" in detail.lower() and (
            "MINUTA_EGRESS_ALLOW_CIDRS" in detail or "password" in detail
        ), detail
    assert (await closed_stack.client.get("/v1/webhooks", headers=headers)).json() == []
    public = await closed_stack.client.post(
        "/v1/webhooks", headers=headers, json={"url": "https://hooks.example.com/minuta"}
    )
    assert public.status_code == 201, public.text


async def test_a_webhook_whose_name_turns_inward_is_not_called(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    audio_dir: Path,
    receiver: Receiver,
) -> None:
    """Public when registered, loopback when delivered (DNS rebinding): refused at use, logged
    as a code, and the receiver on loopback never sees a request."""
    port = receiver.url.split(":")[2].split("/")[0]
    answers = [PUBLIC_TEST_ADDRESS]

    def rebinding(host: str, port: int) -> list[str]:
        return [answers.pop(0)] if answers else ["127.0.0.1"]

    settings = make_settings(backend, request, tmp_path, egress_allow_cidrs="")
    async with open_stack(settings, egress=EgressPolicy(resolver=rebinding)) as stack:
        headers = await stack.tenant()
        url = f"http://hooks.example.com:{port}/hooks/minuta"
        hook = await stack.client.post("/v1/webhooks", headers=headers, json={"url": url})
        assert hook.status_code == 201, hook.text
        meeting = await _meeting(stack, headers, audio_dir)
        await stack.broker.deliver(completed(meeting))
        await stack.ctx.webhooks.drain()
        log = (
            await stack.client.get(f"/v1/webhooks/{hook.json()['id']}/deliveries", headers=headers)
        ).json()
    assert log and all(d["error"] == "egress_refused" and not d["success"] for d in log)
    assert receiver.received == []
