"""Brokers for tests: the real RabbitMQ on this machine (unique names per test) or in memory."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

import aio_pika
import pytest

from core.contracts import ProcessMeetingJob
from core.messaging.amqp import AmqpBroker
from core.messaging.delivery import DeadLetter, Kind
from core.messaging.memory import MemoryBroker, MemoryHub
from core.messaging.settings import BrokerSettings
from core.messaging.topology import JOB_ROUTING_KEY, delete_topology

RABBIT_URL = os.environ.get("MINUTA_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")


def require_rabbitmq() -> None:
    url = aio_pika.connection.make_url(RABBIT_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5672), timeout=2):
            return
    except OSError:
        pytest.fail(f"RabbitMQ is not reachable at {RABBIT_URL} (set MINUTA_TEST_BROKER_URL)")


def unique_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}."


def rabbit_settings(**overrides: Any) -> BrokerSettings:
    values: dict[str, Any] = {
        "broker_url": RABBIT_URL,
        "broker_name_prefix": unique_prefix(),
        "retry_delay_ms": 300,
        "max_attempts": 3,
        "prefetch": 1,
    }
    values.update(overrides)
    return BrokerSettings(**values)


async def delete_rabbit_topology(settings: BrokerSettings) -> None:
    connection = await aio_pika.connect(RABBIT_URL)
    async with connection:
        channel = await connection.channel()
        await delete_topology(channel, settings)


def make_job(**overrides: Any) -> ProcessMeetingJob:
    values: dict[str, Any] = {
        "job_id": uuid.uuid4(),
        "meeting_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "audio_url": "http://127.0.0.1:9/recording.wav?X-Amz-Signature=abc",
    }
    values.update(overrides)
    return ProcessMeetingJob(**values)


class Harness:
    """One 'server' (a RabbitMQ prefix or a MemoryHub) and any number of connections to it."""

    def __init__(self, kind: str, **overrides: Any) -> None:
        self.kind = kind
        if kind == "memory":
            values: dict[str, Any] = {"retry_delay_ms": 300, "max_attempts": 3, "prefetch": 1}
            values.update(overrides)
            self.settings = BrokerSettings(broker_url=None, **values)
        else:
            require_rabbitmq()
            self.settings = rabbit_settings(quorum_queues=kind == "amqp-quorum", **overrides)
        self.hub = MemoryHub()
        self.brokers: list[AmqpBroker | MemoryBroker] = []

    async def broker(self, **overrides: Any) -> AmqpBroker | MemoryBroker:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        broker: AmqpBroker | MemoryBroker
        broker = MemoryBroker(settings, self.hub) if self.kind == "memory" else AmqpBroker(settings)
        await broker.connect()
        self.brokers.append(broker)
        return broker

    async def publish_raw_job(self, body: bytes) -> None:
        broker = self.brokers[0] if self.brokers else await self.broker()
        if isinstance(broker, MemoryBroker):
            broker.publish_raw(broker.names.jobs.name, body, "raw")
        else:
            await broker.publish_raw(
                broker.names.jobs_exchange, JOB_ROUTING_KEY, body, message_id="raw"
            )

    async def dead_letters(self, kind: Kind = "jobs") -> list[DeadLetter]:
        broker = self.brokers[0] if self.brokers else await self.broker()
        return await broker.take_dead_letters(kind)

    async def aclose(self) -> None:
        for broker in self.brokers:
            await broker.close()
        if self.kind != "memory":
            await delete_rabbit_topology(self.settings)
