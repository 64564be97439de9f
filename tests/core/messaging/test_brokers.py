"""The same delivery semantics on the real RabbitMQ (classic and quorum queues) and in memory."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from core.contracts import (
    FailureKind,
    JobCompleted,
    JobFailed,
    JobProgress,
    ProcessMeetingJob,
    ProposedSpeaker,
    SpeakerMatches,
)
from core.messaging.base import (
    DependencyUnavailableError,
    RetryableJobError,
    RpcNoServerError,
    RpcRemoteError,
    RpcTimeoutError,
)
from core.messaging.delivery import ATTEMPT_HEADER, ERROR_TYPE_HEADER, SOURCE_HEADER
from core.results import AudioInfo, MeetingResult, Minutes
from testkit.rabbitmq import Harness, make_job

KINDS = ["memory", "amqp", "amqp-quorum"]
# A result of nothing said: delivery is what these tests look at, not the result.
SILENCE = MeetingResult(
    audio=AudioInfo(duration=0.0, language="en"),
    speakers=[],
    segments=[],
    topics=[],
    minutes=Minutes.empty("en"),
)


def run(scenario: Callable[[Harness], Awaitable[None]], kind: str, **settings: Any) -> None:
    async def main() -> None:
        harness = Harness(kind, **settings)
        try:
            await asyncio.wait_for(scenario(harness), 60)
        finally:
            await harness.aclose()

    asyncio.run(main())


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("kind", KINDS)
def test_job_round_trip_and_ack(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        api, worker = await h.broker(), await h.broker()
        got: list[ProcessMeetingJob] = []

        async def handler(job: ProcessMeetingJob) -> None:
            got.append(job)

        await worker.consume_jobs(handler)
        job = make_job(language="en")
        await api.publish_job(job)
        await until(lambda: len(got) == 1)
        assert got[0] == job
        # Acked: a second consumer after the first one stops gets nothing.
        assert await worker.stop_consuming(drain_timeout=5)
        again: list[ProcessMeetingJob] = []

        async def second(job: ProcessMeetingJob) -> None:
            again.append(job)

        await (await h.broker()).consume_jobs(second)
        await asyncio.sleep(0.5)
        assert again == []
        assert await h.dead_letters() == []

    run(scenario, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_retryable_error_is_retried_after_the_delay_then_dead_lettered(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        broker = await h.broker()
        calls: list[tuple[int, float]] = []

        async def handler(job: ProcessMeetingJob) -> None:
            calls.append((job.attempt, time.monotonic()))
            raise RetryableJobError("LLM server unreachable")

        await broker.consume_jobs(handler)
        job = make_job()
        await broker.publish_job(job)
        await until(lambda: len(calls) == 3)
        letters: list[Any] = []

        async def dead() -> bool:
            letters.extend(await h.dead_letters())
            return bool(letters)

        deadline = time.monotonic() + 10
        while not await dead():
            assert time.monotonic() < deadline, "nothing dead-lettered"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # would be a fourth attempt if the limit did not hold
        assert [attempt for attempt, _ in calls] == [1, 2, 3]
        gaps = [b - a for (_, a), (_, b) in itertools.pairwise(calls)]
        assert all(gap >= 0.25 for gap in gaps), gaps
        assert len(letters) == 1
        letter = letters[0]
        assert letter.message_id == str(job.job_id)
        assert "gave up after 3 attempts" in letter.reason
        assert "LLM server unreachable" in letter.reason
        assert letter.headers[ERROR_TYPE_HEADER] == "RetryableJobError"
        assert letter.headers[SOURCE_HEADER] == broker.names.jobs.name
        assert ProcessMeetingJob.model_validate_json(letter.body).job_id == job.job_id

    run(scenario, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_other_errors_and_unknown_contracts_are_dead_lettered_at_once(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        broker = await h.broker()
        calls: list[ProcessMeetingJob] = []

        async def handler(job: ProcessMeetingJob) -> None:
            calls.append(job)
            raise ValueError("a bug")

        await broker.consume_jobs(handler)
        await broker.publish_job(make_job())
        await h.publish_raw_job(b'{"version": 2, "kind": "process_meeting", "job_id": "x"}')
        await h.publish_raw_job(b"not json at all")
        letters: list[Any] = []
        deadline = time.monotonic() + 10
        while len(letters) < 3:
            assert time.monotonic() < deadline, letters
            letters.extend(await h.dead_letters())
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.8)
        assert len(calls) == 1, "a plain exception must not be retried"
        reasons = sorted(letter.reason for letter in letters)
        assert sum("ValueError: a bug" in r for r in reasons) == 1
        assert sum("not a v1 process_meeting job" in r for r in reasons) == 2
        assert all(letter.headers[ATTEMPT_HEADER] == 1 for letter in letters)

    run(scenario, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_prefetch_bounds_the_jobs_in_hand(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        publisher, worker = await h.broker(), await h.broker()
        gate = asyncio.Event()
        running = 0
        most = 0
        done = 0

        async def handler(job: ProcessMeetingJob) -> None:
            nonlocal running, most, done
            running += 1
            most = max(most, running)
            await gate.wait()
            running -= 1
            done += 1

        await worker.consume_jobs(handler, prefetch=2)
        for _ in range(6):
            await publisher.publish_job(make_job())
        await until(lambda: running == 2)
        await asyncio.sleep(0.5)
        assert running == 2
        gate.set()
        await until(lambda: done == 6)
        assert most == 2

    run(scenario, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_is_acked_only_after_its_handler_returned(kind: str) -> None:
    """The first worker publishes its progress and then dies: the job is not lost."""

    async def scenario(h: Harness) -> None:
        api, first, second = await h.broker(), await h.broker(), await h.broker()
        events: list[Any] = []

        async def on_event(event: Any) -> None:
            events.append(event)

        await api.consume_events(on_event)

        async def stuck(job: ProcessMeetingJob) -> None:
            await first.publish_event(
                JobProgress(
                    job_id=job.job_id,
                    meeting_id=job.meeting_id,
                    tenant_id=job.tenant_id,
                    stage="decode",
                    fraction=0.0,
                )
            )
            await asyncio.Event().wait()

        await first.consume_jobs(stuck)
        job = make_job()
        await api.publish_job(job)
        await until(lambda: len(events) == 1)
        await first.close()  # the worker goes away with the job in hand

        completed: list[ProcessMeetingJob] = []

        async def finish(job: ProcessMeetingJob) -> None:
            await second.publish_event(
                JobCompleted(
                    job_id=job.job_id,
                    meeting_id=job.meeting_id,
                    tenant_id=job.tenant_id,
                    result=SILENCE,
                )
            )
            completed.append(job)

        await second.consume_jobs(finish)
        await until(lambda: len(completed) == 1 and len(events) == 2)
        assert completed[0].job_id == job.job_id
        assert completed[0].attempt == 1  # redelivered, not retried
        assert isinstance(events[1], JobCompleted)
        assert await h.dead_letters() == []

    run(scenario, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_events_in_order_and_a_failing_event_handler_is_retried(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        worker, api = await h.broker(), await h.broker()
        job = make_job()
        ids: dict[str, Any] = {
            "job_id": job.job_id,
            "meeting_id": job.meeting_id,
            "tenant_id": job.tenant_id,
        }
        seen: list[Any] = []
        failed_once = False

        async def apply(event: Any) -> None:
            nonlocal failed_once
            if isinstance(event, JobFailed) and not failed_once:
                failed_once = True
                raise RuntimeError("database is restarting")
            seen.append(event)

        await api.consume_events(apply)
        await worker.publish_event(JobProgress(stage="transcription", fraction=0.5, **ids))
        await worker.publish_event(
            JobFailed(failure=FailureKind.bad_input, reason="not audio", **ids)
        )
        await until(lambda: len(seen) == 2)
        assert isinstance(seen[0], JobProgress) and seen[0].fraction == 0.5
        assert isinstance(seen[1], JobFailed) and seen[1].failure is FailureKind.bad_input
        # An event of no job (retroactive naming) travels the same queue.
        matches = SpeakerMatches(
            tenant_id=job.tenant_id,
            person_id=job.job_id,
            meeting_id=job.meeting_id,
            label="S1",
            matches=[ProposedSpeaker(meeting_id=job.job_id, label="S2", score=0.8)],
        )
        await worker.publish_event(matches)
        await until(lambda: len(seen) == 3)
        assert seen[2] == matches
        assert await h.dead_letters("events") == []

    run(scenario, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_an_event_waits_out_a_dependency_outage_without_using_attempts(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        worker, api = await h.broker(), await h.broker()
        job = make_job()
        outage_calls = 3 * api.max_attempts  # far more than the attempts an event gets
        calls: list[int] = []
        applied: list[Any] = []

        async def apply(event: Any) -> None:
            calls.append(len(calls) + 1)
            if len(calls) <= outage_calls:
                raise DependencyUnavailableError("database unavailable")
            applied.append(event)

        await api.consume_events(apply)
        await worker.publish_event(
            JobCompleted(
                job_id=job.job_id,
                meeting_id=job.meeting_id,
                tenant_id=job.tenant_id,
                result=SILENCE,
            )
        )
        await until(lambda: len(applied) == 1, timeout=30)
        assert len(calls) == outage_calls + 1
        assert await h.dead_letters("events") == []

    run(scenario, kind, retry_delay_ms=50)


@pytest.mark.parametrize("kind", KINDS)
def test_graceful_stop_drains_or_requeues(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        api, worker = await h.broker(), await h.broker()
        finished: list[ProcessMeetingJob] = []

        async def slow(job: ProcessMeetingJob) -> None:
            await asyncio.sleep(0.5)
            finished.append(job)

        await worker.consume_jobs(slow)
        await api.publish_job(make_job())
        await asyncio.sleep(0.1)
        assert await worker.stop_consuming(drain_timeout=5) is True
        assert len(finished) == 1

        async def forever(job: ProcessMeetingJob) -> None:
            await asyncio.Event().wait()

        stuck = await h.broker()
        await stuck.consume_jobs(forever)
        job = make_job()
        await api.publish_job(job)
        await asyncio.sleep(0.3)
        assert await stuck.stop_consuming(drain_timeout=0.2) is False

        got: list[ProcessMeetingJob] = []

        async def take(job: ProcessMeetingJob) -> None:
            got.append(job)

        await (await h.broker()).consume_jobs(take)
        await until(lambda: len(got) == 1)
        assert got[0].job_id == job.job_id

    run(scenario, kind)


@pytest.mark.parametrize("kind", ["memory", "amqp"])
def test_rpc_round_trip_timeout_no_server_and_remote_error(kind: str) -> None:
    async def scenario(h: Harness) -> None:
        client, server = await h.broker(), await h.broker()

        with pytest.raises(RpcNoServerError):
            await client.rpc_call("search", b"hello", timeout=2)

        async def upper(body: bytes) -> bytes:
            if body == b"slow":
                await asyncio.sleep(3)
            if body == b"boom":
                raise KeyError("no such tenant")
            return body.upper()

        await server.serve_rpc("search", upper)
        assert await client.rpc_call("search", b"hello", timeout=5) == b"HELLO"
        answers = await asyncio.gather(
            *(client.rpc_call("search", f"q{i}".encode(), timeout=5) for i in range(5))
        )
        assert answers == [f"Q{i}".encode() for i in range(5)]
        began = time.monotonic()
        with pytest.raises(RpcTimeoutError, match="no answer"):
            await client.rpc_call("search", b"slow", timeout=0.5)
        assert time.monotonic() - began < 2
        with pytest.raises(RpcRemoteError, match="no such tenant"):
            await client.rpc_call("search", b"boom", timeout=5)

    run(scenario, kind)
