"""What only RabbitMQ has: message properties, queue arguments, outages and unroutable messages."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable

import aio_pika
import pytest

from core.contracts import ProcessMeetingJob
from core.messaging.amqp import AmqpBroker, redacted
from core.messaging.base import BrokerUnavailableError, UnroutableError
from core.messaging.factory import make_broker
from core.messaging.memory import MemoryBroker
from core.messaging.settings import BrokerSettings
from core.messaging.topology import TopologyMismatchError
from testkit.rabbitmq import (
    RABBIT_URL,
    delete_rabbit_topology,
    make_job,
    rabbit_settings,
    require_rabbitmq,
)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_publish_to_a_closed_port_is_broker_unavailable_quickly() -> None:
    settings = BrokerSettings(
        broker_url=f"amqp://guest:secret@127.0.0.1:{closed_port()}/",
        broker_connect_timeout_seconds=2,
    )

    async def main() -> None:
        broker = AmqpBroker(settings)
        began = time.monotonic()
        with pytest.raises(BrokerUnavailableError) as caught:
            await broker.publish_job(make_job())
        assert time.monotonic() - began < 3
        assert "secret" not in str(caught.value)
        await broker.close()

    asyncio.run(main())


def test_factory_picks_the_broker_from_the_url() -> None:
    assert isinstance(make_broker(BrokerSettings(broker_url=None)), MemoryBroker)
    assert isinstance(make_broker(BrokerSettings(broker_url=RABBIT_URL)), AmqpBroker)
    assert redacted("amqp://u:p4ss@h:5672/v") == "amqp://u:***@h:5672/v"


@pytest.mark.parametrize("quorum", [False, True])
def test_jobs_are_persistent_with_the_job_id_and_queues_have_their_arguments(quorum: bool) -> None:
    require_rabbitmq()
    settings = rabbit_settings(quorum_queues=quorum, delivery_limit=4, retry_delay_ms=1234)

    async def main() -> None:
        broker = AmqpBroker(settings)
        try:
            job = make_job()
            await broker.publish_job(job)
            connection = await aio_pika.connect(RABBIT_URL)
            async with connection:
                channel = await connection.channel()
                queue = await channel.get_queue(broker.names.jobs.name)
                message = await queue.get(timeout=5)
                assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
                assert message.message_id == str(job.job_id)
                assert message.content_type == "application/json"
                await message.ack()
            # Declaring again with the same settings is a no-op (both sides do it on start).
            again = AmqpBroker(settings)
            await again.connect()
            await again.close()
            # The queue arguments RabbitMQ holds: re-declaring with others is refused.
            changed = settings.model_copy(update={"retry_delay_ms": 999})
            with pytest.raises(TopologyMismatchError, match="MINUTA_RETRY_DELAY_MS"):
                await AmqpBroker(changed).connect()
            if quorum:
                other = settings.model_copy(update={"delivery_limit": 9})
                with pytest.raises(TopologyMismatchError):
                    await AmqpBroker(other).connect()
        finally:
            await broker.close()
            await delete_rabbit_topology(settings)

    asyncio.run(main())


def test_unroutable_publish_is_an_error() -> None:
    require_rabbitmq()
    settings = rabbit_settings()

    async def main() -> None:
        broker = AmqpBroker(settings)
        try:
            await broker.connect()
            with pytest.raises(UnroutableError):
                await broker.publish_raw(broker.names.jobs_exchange, "no-such-key", b"{}")
            with pytest.raises(UnroutableError):
                await broker.publish_raw("", "test-no-such-queue", b"{}")
            # The channel survives a returned message.
            await broker.publish_job(make_job())
        finally:
            await broker.close()
            await delete_rabbit_topology(settings)

    asyncio.run(main())


def close_connection_named(name: str) -> None:
    """Have RabbitMQ drop one connection (ours, by its name), as a broker restart would."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    pids = [line.split("\t", 1)[0] for line in listing.splitlines() if f'"{name}"' in line]
    assert len(pids) == 1, listing
    subprocess.run(
        ["rabbitmqctl", "-q", "close_connection", pids[0], "test: broker went away"],
        check=True,
        timeout=60,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")
def test_consumers_come_back_after_the_connection_is_dropped() -> None:
    require_rabbitmq()
    settings = rabbit_settings(broker_reconnect_interval_seconds=1)
    name = f"minuta-test-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        api = AmqpBroker(settings)
        worker = AmqpBroker(settings, connection_name=name)
        got: list[ProcessMeetingJob] = []

        async def handler(job: ProcessMeetingJob) -> None:
            got.append(job)

        try:
            await worker.consume_jobs(handler)
            first = make_job()
            await api.publish_job(first)
            await until(lambda: len(got) == 1)
            await asyncio.to_thread(close_connection_named, name)
            # While the worker is away the job waits in the queue, then reaches the worker.
            second = make_job()
            await api.publish_job(second)
            await until(lambda: len(got) == 2, timeout=30)
            assert got[1].job_id == second.job_id
            # Publishing from the reconnected side works again too.
            await until(lambda: worker.connected, timeout=30)
            await worker.publish_job(make_job())
            await until(lambda: len(got) == 3, timeout=30)
        finally:
            await api.close()
            await worker.close()
            await delete_rabbit_topology(settings)

    asyncio.run(main())


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
