"""The broker users of infra/rabbitmq/definitions.json on the real local RabbitMQ: the API and
the workers each get their own user, set up as the compose entrypoint does (permissions from the
definitions, passwords from standard input); the real brokers run a job with them, and neither
user reaches another vhost or the management UI.

Both sides declare the whole topology (core/messaging/topology.py), and RabbitMQ wants read
permission on a queue to declare it with a dead-letter exchange, so read cannot be split between
the two users; each user is limited to Minuta's own names in its own vhost."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import AMQPError

from core.contracts import JobProgress, ProcessMeetingJob, SpeakerMatches, WorkerEvent
from core.messaging.amqp import AmqpBroker
from core.messaging.settings import BrokerSettings
from testkit.rabbitmq import make_job

DEFINITIONS = Path(__file__).resolve().parents[2] / "infra" / "rabbitmq" / "definitions.json"
USERS = ("minuta-api", "minuta-worker")


def _ctl(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        ["rabbitmqctl", *args], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def passwords() -> Iterator[dict[str, str]]:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on this machine")
    _ctl("import_definitions", str(DEFINITIONS))
    chosen = {user: secrets.token_hex(16) for user in USERS}
    try:
        for user, password in chosen.items():
            _ctl("change_password", user, stdin=password)  # as infra/rabbitmq/users.sh does
        yield chosen
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", "minuta"], capture_output=True)
        for user in USERS:
            subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True)


def _url(user: str, password: str) -> str:
    return f"amqp://{user}:{password}@127.0.0.1:5672/minuta"


def test_api_and_worker_users_run_a_job_and_reach_nothing_else(
    passwords: dict[str, str],
) -> None:
    async def main() -> None:
        api = AmqpBroker(BrokerSettings(broker_url=_url("minuta-api", passwords["minuta-api"])))
        worker = AmqpBroker(
            BrokerSettings(broker_url=_url("minuta-worker", passwords["minuta-worker"]))
        )
        jobs: asyncio.Queue[ProcessMeetingJob] = asyncio.Queue()
        events: asyncio.Queue[WorkerEvent] = asyncio.Queue()

        async def on_job(job: ProcessMeetingJob) -> None:
            await jobs.put(job)
            await worker.publish_event(
                JobProgress(
                    job_id=job.job_id,
                    meeting_id=job.meeting_id,
                    tenant_id=job.tenant_id,
                    stage="decode",
                    fraction=0.5,
                )
            )

        async def on_event(event: WorkerEvent) -> None:
            await events.put(event)

        try:
            await worker.consume_jobs(on_job)
            await api.consume_events(on_event)
            job = make_job()
            await api.publish_job(job)
            assert (await asyncio.wait_for(jobs.get(), 20)).job_id == job.job_id
            event = await asyncio.wait_for(events.get(), 20)
            assert not isinstance(event, SpeakerMatches) and event.job_id == job.job_id

            for user, password in passwords.items():
                # The default vhost refuses the connection (RabbitMQ closes it at open).
                with pytest.raises(AMQPError):
                    await aio_pika.connect(f"amqp://{user}:{password}@127.0.0.1:5672/")
        finally:
            await api.close()
            await worker.close()

    asyncio.run(main())


def test_the_users_have_no_password_and_no_management_tag_in_the_repository() -> None:
    definitions = json.loads(DEFINITIONS.read_text())
    users = {u["name"]: u for u in definitions["users"]}
    assert set(users) == set(USERS)
    assert all(u["password_hash"] == "" and u["tags"] == [] for u in users.values())
    assert {p["user"] for p in definitions["permissions"]} == set(USERS)
    assert all(p["vhost"] == "minuta" for p in definitions["permissions"])
