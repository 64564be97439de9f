"""The broker that settings ask for: RabbitMQ with a URL, in-process without one."""

from __future__ import annotations

from core.messaging.base import Broker
from core.messaging.memory import MemoryBroker, MemoryHub
from core.messaging.settings import BrokerSettings


def make_broker(settings: BrokerSettings | None = None, hub: MemoryHub | None = None) -> Broker:
    """`hub` lets several in-process brokers (the API's and the worker's) share queues."""
    settings = settings or BrokerSettings()
    if not settings.broker_url:
        return MemoryBroker(settings, hub)
    from core.messaging.amqp import AmqpBroker

    return AmqpBroker(settings)
