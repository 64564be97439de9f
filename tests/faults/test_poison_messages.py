"""Poison messages: dead-lettered with a reason, counted by the alert metric, never blocking.

Malformed JSON and a message of an unknown contract version are put straight on the real job
queue and the real event queue. Each must land in its dead-letter queue with a reason header,
raise `minuta_dead_letters_total` on the process that settled it (the worker for jobs, the API
for events), and a normal upload sent behind them must still complete.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import httpx

from core.messaging.amqp import AmqpBroker
from core.messaging.delivery import REASON_HEADER, DeadLetter
from core.messaging.settings import BrokerSettings
from testkit.processes import run_async
from tests.faults.conftest import FAULT_SETTINGS, SHORT, FaultDeployment, FaultReport

POISON = {
    "malformed": b'{"kind": "process_meeting", "job_id": ',
    "unknown_contract": json.dumps(
        {"version": 99, "kind": "process_meeting", "job_id": str(uuid.uuid4())}
    ).encode(),
}


def dead_letter_count(metrics_url: str, queue: str) -> dict[str, float]:
    text = httpx.get(metrics_url, timeout=10).text
    found: dict[str, float] = {}
    pattern = rf'^minuta_dead_letters_total\{{queue="{queue}",reason="(\w+)"\}} (\S+)$'
    for match in re.finditer(pattern, text, re.M):
        found[match.group(1)] = float(match.group(2))
    return found


def test_poison_messages_are_dead_lettered_and_do_not_block(
    faults: FaultDeployment, fault_report: FaultReport
) -> None:
    worker = faults.workers.shared()
    worker_metrics = f"http://127.0.0.1:{worker.health_port}/metrics"
    api_metrics = f"{faults.api.url}/metrics"
    jobs_before = dead_letter_count(worker_metrics, "jobs")
    events_before = dead_letter_count(api_metrics, "events")
    settings = BrokerSettings(
        broker_url=faults.stack.broker_url,
        broker_name_prefix=faults.stack.broker_prefix,
        retry_delay_ms=int(FAULT_SETTINGS["MINUTA_RETRY_DELAY_MS"]),
        max_attempts=int(FAULT_SETTINGS["MINUTA_MAX_ATTEMPTS"]),
    )

    async def inject() -> None:
        broker = AmqpBroker(settings)
        try:
            for body in POISON.values():
                await broker.publish_raw("", broker.names.jobs.name, body)
                await broker.publish_raw("", broker.names.events.name, body)
        finally:
            await broker.close()

    async def drain(kind: str) -> list[DeadLetter]:
        broker = AmqpBroker(settings)
        try:
            letters: list[DeadLetter] = []
            for _ in range(60):
                letters += await broker.take_dead_letters(kind)  # type: ignore[arg-type]
                if len(letters) >= len(POISON):
                    break
                await asyncio.sleep(0.5)
            return letters
        finally:
            await broker.close()

    run_async(inject)
    client = faults.client()
    try:
        # Queued behind the poison: it must still run.
        meeting = client.upload(SHORT, title="behind the poison", language="en")["id"]
        done = client.wait_finished(meeting, 300, watch=[worker])
        assert done["status"] == "completed", done["error"]

        jobs_dead = run_async(drain, "jobs")
        events_dead = run_async(drain, "events")
        for letters in (jobs_dead, events_dead):
            assert sorted(letter.body for letter in letters) == sorted(POISON.values())
            assert all(letter.headers.get(REASON_HEADER) for letter in letters)
        for letter in jobs_dead + events_dead:
            reason = str(letter.headers[REASON_HEADER])
            assert "not a v1" in reason, reason

        jobs_after = dead_letter_count(worker_metrics, "jobs")
        events_after = dead_letter_count(api_metrics, "events")
        for after, before in ((jobs_after, jobs_before), (events_after, events_before)):
            for reason in POISON:
                assert after[reason] - before.get(reason, 0.0) == 1.0, (reason, after, before)
        verdict = fault_report.measure(
            "poison messages (malformed JSON, contract version 99) on the job and event queues",
            "dead-lettered with the reason in a header; minuta_dead_letters_total{reason} +1 "
            "on the worker (jobs) and the API (events); the upload behind them completed",
            faults,
            [meeting],
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
    finally:
        client.close()
