"""The RabbitMQ topology both sides declare, with the names of core.contracts.

    jobs exchange (direct) ──process_meeting──▶ jobs queue ──(consumer)
                 ▲                                  │ rejected / over the delivery limit
                 │ after the TTL                    ▼
           jobs retry queue (message TTL)      jobs dead queue
    events exchange (topic) ──#──▶ API events queue, with its own retry and dead queues
    (default exchange) ──▶ vector commands queue (single active consumer), retry and dead queues

A retry is a confirmed copy published to the retry queue, whose TTL dead-letters it back; a
dead letter is a confirmed copy published to the dead queue with the reason in its headers. Both
go through the default exchange, so a retry reaches only the queue that failed it.

Declaring is idempotent, so the API and every worker declare it on start; RabbitMQ refuses a
re-declaration with other arguments (`TopologyMismatchError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange
from aio_pika.exceptions import ChannelPreconditionFailed

from core.contracts import (
    EVENTS_EXCHANGE,
    EVENTS_QUEUE,
    JOBS_DEAD_QUEUE,
    JOBS_EXCHANGE,
    JOBS_QUEUE,
    JOBS_RETRY_QUEUE,
    VECTORS_QUEUE,
)
from core.messaging.settings import BrokerSettings

JOB_ROUTING_KEY = "process_meeting"
# Binding of the API's events queue: every event kind.
EVENTS_BINDING = "#"


class TopologyMismatchError(RuntimeError):
    """A queue or exchange exists with other arguments than these settings ask for."""


@dataclass(frozen=True)
class WorkQueue:
    """A consumed queue with the retry and dead queues that belong to it."""

    name: str
    retry: str
    dead: str


@dataclass(frozen=True)
class Names:
    jobs_exchange: str
    events_exchange: str
    jobs: WorkQueue
    events: WorkQueue
    vectors: WorkQueue
    prefix: str

    @classmethod
    def from_prefix(cls, prefix: str = "") -> Names:
        return cls(
            jobs_exchange=prefix + JOBS_EXCHANGE,
            events_exchange=prefix + EVENTS_EXCHANGE,
            jobs=WorkQueue(
                prefix + JOBS_QUEUE, prefix + JOBS_RETRY_QUEUE, prefix + JOBS_DEAD_QUEUE
            ),
            events=WorkQueue(
                prefix + EVENTS_QUEUE,
                prefix + EVENTS_QUEUE + ".retry",
                prefix + EVENTS_QUEUE + ".dead",
            ),
            vectors=WorkQueue(
                prefix + VECTORS_QUEUE,
                prefix + VECTORS_QUEUE + ".retry",
                prefix + VECTORS_QUEUE + ".dead",
            ),
            prefix=prefix,
        )

    def rpc_queue(self, name: str) -> str:
        return self.prefix + name

    def all_queues(self) -> list[str]:
        return [
            q for w in (self.jobs, self.events, self.vectors) for q in (w.name, w.retry, w.dead)
        ]

    def work_queue(self, kind: str) -> WorkQueue:
        return {"jobs": self.jobs, "events": self.events, "vectors": self.vectors}[kind]

    def all_exchanges(self) -> list[str]:
        return [self.jobs_exchange, self.events_exchange]


@dataclass(frozen=True)
class Declared:
    jobs_exchange: AbstractExchange
    events_exchange: AbstractExchange


def queue_arguments(settings: BrokerSettings, **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if settings.quorum_queues:
        args["x-queue-type"] = "quorum"
    args.update(extra)
    return args


async def _declare_work_queue(
    channel: AbstractChannel,
    settings: BrokerSettings,
    queue: WorkQueue,
    *,
    back_exchange: str,
    back_routing_key: str,
    single_active_consumer: bool = False,
) -> aio_pika.abc.AbstractQueue:
    await channel.declare_queue(queue.dead, durable=True, arguments=queue_arguments(settings))
    await channel.declare_queue(
        queue.retry,
        durable=True,
        arguments=queue_arguments(
            settings,
            **{
                "x-message-ttl": settings.retry_delay_ms,
                "x-dead-letter-exchange": back_exchange,
                "x-dead-letter-routing-key": back_routing_key,
            },
        ),
    )
    main_extra: dict[str, Any] = {
        # Rejected messages and quorum deliveries over the limit (a job that kills its worker
        # every time) end in the dead queue instead of looping.
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue.dead,
    }
    if settings.quorum_queues:
        main_extra["x-delivery-limit"] = settings.delivery_limit
    if single_active_consumer:
        # Only one consumer gets messages at a time (the others stand by): commands that touch
        # the same vectors apply in the order they were published.
        main_extra["x-single-active-consumer"] = True
    return await channel.declare_queue(
        queue.name, durable=True, arguments=queue_arguments(settings, **main_extra)
    )


async def declare_topology(channel: AbstractChannel, settings: BrokerSettings) -> Declared:
    names = Names.from_prefix(settings.broker_name_prefix)
    try:
        jobs_exchange = await channel.declare_exchange(
            names.jobs_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        events_exchange = await channel.declare_exchange(
            names.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        jobs = await _declare_work_queue(
            channel,
            settings,
            names.jobs,
            back_exchange=names.jobs_exchange,
            back_routing_key=JOB_ROUTING_KEY,
        )
        await jobs.bind(jobs_exchange, routing_key=JOB_ROUTING_KEY)
        events = await _declare_work_queue(
            channel,
            settings,
            names.events,
            back_exchange="",
            back_routing_key=names.events.name,
        )
        await events.bind(events_exchange, routing_key=EVENTS_BINDING)
        await _declare_work_queue(
            channel,
            settings,
            names.vectors,
            back_exchange="",
            back_routing_key=names.vectors.name,
            single_active_consumer=True,
        )
    except ChannelPreconditionFailed as exc:
        raise TopologyMismatchError(
            f"RabbitMQ already has a queue or exchange of this name with other arguments ({exc}). "
            "MINUTA_QUORUM_QUEUES, MINUTA_RETRY_DELAY_MS and MINUTA_DELIVERY_LIMIT must match the "
            "existing queues; delete the queues (after draining them) to change these settings."
        ) from exc
    return Declared(jobs_exchange=jobs_exchange, events_exchange=events_exchange)


async def delete_topology(channel: AbstractChannel, settings: BrokerSettings) -> None:
    """Remove every queue and exchange of these settings (tests, and tearing a deployment down)."""
    names = Names.from_prefix(settings.broker_name_prefix)
    for queue in names.all_queues():
        await channel.queue_delete(queue)
    for exchange in names.all_exchanges():
        await channel.exchange_delete(exchange)
