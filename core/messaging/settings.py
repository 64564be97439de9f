"""The broker's section of the settings (core/settings.py), shared by the API and the workers."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section


class BrokerSettings(Section):
    # amqp://user:password@host:5672/vhost; unset means the in-process broker (`minuta serve`).
    broker_url: str | None = None
    # Quorum queues replicate across a RabbitMQ cluster and count redeliveries (delivery_limit).
    # Changing this (or retry_delay_ms) on an existing deployment needs the queues re-created:
    # RabbitMQ refuses to re-declare a queue with other arguments.
    quorum_queues: bool = False
    # Messages a consumer holds unacknowledged at once, i.e. jobs in hand per worker.
    prefetch: int = Field(default=1, ge=1, le=1000)
    retry_delay_ms: int = Field(default=30_000, ge=0)
    # Attempts of one job (the first one included) before a transient failure is dead-lettered.
    max_attempts: int = Field(default=3, ge=1)
    # Quorum queues only: deliveries of one message (crashes included) before it is dead-lettered.
    delivery_limit: int = Field(default=5, ge=1)
    rpc_timeout_seconds: float = Field(default=10.0, gt=0)
    broker_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # After a lost connection: the pause between reconnection attempts (consumers come back).
    broker_reconnect_interval_seconds: float = Field(default=5.0, gt=0)
    # How long a publish may wait for the broker's confirm before it counts as not taken.
    broker_publish_timeout_seconds: float = Field(default=10.0, gt=0)
    # Prepended to every exchange and queue name: several deployments (or tests) on one vhost.
    broker_name_prefix: str = ""
