"""GET /metrics of the real app on PostgreSQL: requests, meetings, failures, queue depths from
the real RabbitMQ, and the dead-letter alert metric when poison messages arrive."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.contracts import FailureKind, JobFailed
from core.messaging.amqp import AmqpBroker
from core.messaging.settings import BrokerSettings
from services.api.db.models import Meeting
from testkit.processes import free_port
from testkit.rabbitmq import (
    delete_rabbit_topology,
    rabbit_settings,
    require_rabbitmq,
)
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.api.helpers import completed, progress
from tests.services.api.test_webhooks import Receiver, receiver

pytestmark = pytest.mark.anyio
__all__ = ["receiver"]  # a fixture, re-exported for pytest

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(stack: ApiStack) -> Samples:
    answer = await stack.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


async def upload(stack: ApiStack, headers: dict[str, str], audio_dir: Path) -> Meeting:
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    assert response.status_code == 202, response.text
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
    assert meeting is not None
    return meeting


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_requests_meetings_and_failures_move_the_metrics(
    request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    settings = make_settings("postgres-s3", request, tmp_path)
    async with open_stack(settings) as stack:
        before = await scrape(stack)
        assert value(before, "minuta_meetings", status="queued") == 0
        posted = ("minuta_http_requests_total", {"method": "POST", "route": "/v1/meetings"})
        posts_before = value(before, posted[0], **posted[1], status="202") or 0

        headers = await stack.tenant()
        meeting = await upload(stack, headers, audio_dir)
        read = await stack.client.get(f"/v1/meetings/{meeting.id}", headers=headers)
        assert read.status_code == 200
        assert (await stack.client.get("/no/such/path")).status_code == 404

        after = await scrape(stack)
        assert value(after, "minuta_meetings", status="queued") == 1
        assert value(after, posted[0], **posted[1], status="202") == posts_before + 1
        route = "/v1/meetings/{meeting_id}"
        assert value(after, "minuta_http_requests_total", method="GET", route=route, status="200")
        assert value(after, "minuta_http_request_duration_seconds_count", method="GET", route=route)
        assert value(
            after, "minuta_http_requests_total", method="GET", route="unmatched", status="404"
        )
        # Route templates only: no raw path (an id) becomes a label.
        assert not any(str(meeting.id) in str(labels) for _, labels in after)

        failures = value(after, "minuta_job_failures_total", failure="bad_input")
        assert failures is not None
        final = JobFailed(
            job_id=meeting.job_id,
            meeting_id=meeting.id,
            tenant_id=meeting.tenant_id,
            failure=FailureKind.bad_input,
            reason="the audio is corrupt",
            will_retry=False,
        )
        await stack.broker.deliver(final)
        await stack.broker.deliver(final)  # redelivered: applied once, counted once
        failed = await scrape(stack)
        assert value(failed, "minuta_job_failures_total", failure="bad_input") == failures + 1
        assert value(failed, "minuta_meetings", status="failed") == 1
        assert value(failed, "minuta_meetings", status="queued") == 0

        schema = (await stack.client.get("/openapi.json")).json()
        assert "/metrics" not in schema["paths"]


async def test_webhook_deliveries_are_counted_by_outcome(
    request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path, receiver: Receiver
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path, webhook_max_attempts=3)
    async with open_stack(settings) as stack:
        headers = await stack.tenant()
        hook = {"url": receiver.url, "events": ["meeting.completed", "meeting.failed"]}
        assert (await stack.client.post("/v1/webhooks", headers=headers, json=hook)).is_success
        name = "minuta_webhook_deliveries_total"
        before = await scrape(stack)
        counts = {o: value(before, name, outcome=o) or 0 for o in ("delivered", "retry", "failed")}

        receiver.statuses = [500]  # one failed attempt, then delivered
        await stack.broker.deliver(completed(await upload(stack, headers, audio_dir)))
        await stack.ctx.webhooks.drain()
        receiver.statuses = [503] * 3  # every attempt fails
        meeting = await upload(stack, headers, audio_dir)
        final = JobFailed(
            job_id=meeting.job_id,
            meeting_id=meeting.id,
            tenant_id=meeting.tenant_id,
            failure=FailureKind.internal,
            reason="internal error",
            will_retry=False,
        )
        await stack.broker.deliver(final)
        await stack.ctx.webhooks.drain()

        after = await scrape(stack)
    assert len(receiver.received) == 2 + 3
    assert value(after, name, outcome="delivered") == counts["delivered"] + 1
    assert value(after, name, outcome="retry") == counts["retry"] + 1 + 2
    assert value(after, name, outcome="failed") == counts["failed"] + 1


async def test_a_broker_that_is_down_gives_no_queue_samples_not_an_error(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    nobody = BrokerSettings(broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    settings = make_settings("sqlite-local", request, tmp_path)
    async with open_stack(settings, broker=AmqpBroker(nobody)) as stack:
        samples = await scrape(stack)
    assert "minuta_queue_depth" not in names(samples)
    assert value(samples, "minuta_meetings", status="completed") == 0


async def test_queue_depth_and_poison_events_on_real_rabbitmq(
    request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    require_rabbitmq()
    broker_settings = rabbit_settings()
    broker = AmqpBroker(broker_settings, connection_name="minuta-test-metrics")
    settings = make_settings("postgres-s3", request, tmp_path)
    try:
        async with open_stack(settings, broker=broker) as stack:
            await broker.connect()
            headers = await stack.tenant()
            meeting = await upload(stack, headers, audio_dir)
            assert await stack.ctx.relay.relay_once() == 1  # the job, published and confirmed
            samples = await scrape(stack)
            assert value(samples, "minuta_queue_depth", queue="jobs") == 1
            assert value(samples, "minuta_queue_depth", queue="events_dead") == 0

            dead = "minuta_dead_letters_total"
            malformed = value(samples, dead, queue="events", reason="malformed")
            unknown = value(samples, dead, queue="events", reason="unknown_contract")
            assert malformed is not None and unknown is not None

            await broker.consume_events(stack.ctx.applier)
            events_queue = broker.names.events.name
            await broker.publish_raw("", events_queue, b"{not json at all")
            future = {"version": 99, "kind": "job_progress", "job_id": str(meeting.job_id)}
            await broker.publish_raw("", events_queue, json.dumps(future).encode())
            # A good event behind the poison ones still gets through.
            await broker.publish_event(progress(meeting, "transcription", 0.5))

            async def applied() -> bool:
                async with stack.ctx.sessionmaker() as session:
                    row = await session.get(Meeting, meeting.id)
                    return row is not None and row.status == "processing"

            await eventually(applied)

            async def counted() -> bool:
                now = await scrape(stack)
                return (
                    value(now, dead, queue="events", reason="malformed") == malformed + 1
                    and value(now, dead, queue="events", reason="unknown_contract") == unknown + 1
                    and value(now, "minuta_queue_depth", queue="events_dead") == 2
                )

            await eventually(counted)
            letters = await broker.take_dead_letters("events")
            assert len(letters) == 2
            assert all("not a v1 job event" in letter.reason for letter in letters)
    finally:
        await broker.close()
        await delete_rabbit_topology(broker_settings)


async def test_metrics_are_closed_without_the_token_and_counts_are_cached(
    request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    settings = make_settings(
        "sqlite-local", request, tmp_path, metrics_token="scrape-me", metrics_cache_seconds=3600
    )
    async with open_stack(settings) as stack:
        assert (await stack.client.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer scrape-you"}
        assert (await stack.client.get("/metrics", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer scrape-me"}
        first = await stack.client.get("/metrics", headers=right)
        assert first.status_code == 200 and 'minuta_meetings{status="queued"} 0.0' in first.text
        await upload(stack, await stack.tenant(), audio_dir)
        for _ in range(20):  # a flood of scrapes: still one read of the counts
            again = await stack.client.get("/metrics", headers=right)
        assert 'minuta_meetings{status="queued"} 0.0' in again.text  # the cached value
        assert stack.app.state.metrics_cache.reads == 1
        stack.app.state.metrics_cache.ttl = 0  # the period is over: read afresh
        fresh = await stack.client.get("/metrics", headers=right)
        assert 'minuta_meetings{status="queued"} 1.0' in fresh.text
        assert stack.app.state.metrics_cache.reads == 2


async def test_without_a_token_metrics_answer_only_this_machine_directly(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path)
    async with open_stack(settings) as stack:
        assert (await stack.client.get("/metrics")).status_code == 200  # 127.0.0.1
        proxied = {"X-Forwarded-For": "203.0.113.9"}
        assert (await stack.client.get("/metrics", headers=proxied)).status_code == 403
        remote = httpx.ASGITransport(app=stack.app, client=("203.0.113.9", 4000))
        async with httpx.AsyncClient(transport=remote, base_url="http://api.test") as client:
            assert (await client.get("/metrics")).status_code == 403
