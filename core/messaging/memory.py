"""`MemoryBroker`: the broker Protocol inside one process, for `minuta serve` without RabbitMQ.

A `MemoryHub` plays the server (named queues of serialized messages); each `MemoryBroker` is a
connection to it, so the API and the worker of `minuta serve` may share one broker or hold one
each. Messages cross as JSON bytes, exactly as on RabbitMQ, and every delivery goes through the
same `handle_delivery` rules: retry after `retry_delay_ms`, dead-letter after `max_attempts`,
prefetch bounds the handlers running at once, and the messages of handlers that a close cancels
go back to their queue. Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.contracts import ProcessMeetingJob, VectorCommand
from core.messaging.base import (
    EventHandler,
    JobHandler,
    RpcHandler,
    RpcNoServerError,
    RpcRemoteError,
    RpcTimeoutError,
    VectorCommandHandler,
    WorkerEvent,
)
from core.messaging.delivery import DeadLetter, Kind, handle_delivery
from core.messaging.metrics import depth_queues
from core.messaging.settings import BrokerSettings
from core.messaging.topology import Names, WorkQueue

log = logging.getLogger(__name__)


@dataclass
class _Envelope:
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None
    redelivered: bool = False


class MemoryHub:
    """The in-process 'server': queues shared by every MemoryBroker connected to it."""

    def __init__(self) -> None:
        self.queues: defaultdict[str, asyncio.Queue[_Envelope]] = defaultdict(asyncio.Queue)
        self.rpc_servers: defaultdict[str, list[RpcHandler]] = defaultdict(list)
        self._timers: set[asyncio.TimerHandle] = set()
        # Messages waiting out a retry delay, by the queue they go back to (queue depths).
        self.delayed: Counter[str] = Counter()
        self._round_robin = itertools.count()

    def put(self, queue: str, envelope: _Envelope) -> None:
        self.queues[queue].put_nowait(envelope)

    def put_later(self, queue: str, envelope: _Envelope, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            self.delayed[queue] -= 1
            self.put(queue, envelope)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)
        self.delayed[queue] += 1

    def rpc_server(self, queue: str) -> RpcHandler | None:
        servers = self.rpc_servers.get(queue)
        if not servers:
            return None
        return servers[next(self._round_robin) % len(servers)]

    def ready(self, queue: str) -> int:
        """Messages waiting in `queue` (not counting those handlers hold)."""
        return self.queues[queue].qsize()


class _MemoryDelivery:
    def __init__(self, broker: MemoryBroker, envelope: _Envelope, queue: WorkQueue) -> None:
        self._broker = broker
        self._envelope = envelope
        self._queue = queue
        self.body = envelope.body
        self.headers = dict(envelope.headers)
        self.message_id = envelope.message_id

    async def ack(self) -> None:
        return None

    async def requeue(self) -> None:
        self._envelope.redelivered = True
        self._broker.hub.put(self._queue.name, self._envelope)

    async def publish_retry(self, body: bytes, headers: dict[str, Any]) -> None:
        delay = self._broker.settings.retry_delay_ms / 1000
        self._broker.hub.put_later(
            self._queue.name, _Envelope(body, headers, self.message_id), delay
        )

    async def publish_dead(self, body: bytes, headers: dict[str, Any]) -> None:
        self._broker.hub.put(self._queue.dead, _Envelope(body, headers, self.message_id))


@dataclass
class _Consumer:
    loop_task: asyncio.Task[None]
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class MemoryBroker:
    def __init__(self, settings: BrokerSettings | None = None, hub: MemoryHub | None = None):
        self.settings = settings or BrokerSettings()
        self.hub = hub or MemoryHub()
        self.names = Names.from_prefix(self.settings.broker_name_prefix)
        self._consumers: list[_Consumer] = []
        self._rpc_served: list[tuple[str, RpcHandler]] = []

    @property
    def max_attempts(self) -> int:
        return self.settings.max_attempts

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        await self.stop_consuming(drain_timeout=0)
        for queue, handler in self._rpc_served:
            with contextlib.suppress(ValueError):
                self.hub.rpc_servers[queue].remove(handler)
        self._rpc_served.clear()

    async def publish_job(self, job: ProcessMeetingJob) -> None:
        self.publish_raw(self.names.jobs.name, job.model_dump_json().encode(), str(job.job_id))

    async def publish_event(self, event: WorkerEvent) -> None:
        self.publish_raw(self.names.events.name, event.model_dump_json().encode())

    async def publish_vector_command(self, command: VectorCommand) -> None:
        self.publish_raw(self.names.vectors.name, command.model_dump_json().encode())

    def publish_raw(self, queue: str, body: bytes, message_id: str | None = None) -> None:
        self.hub.put(queue, _Envelope(body, {}, message_id))

    async def consume_jobs(self, handler: JobHandler, *, prefetch: int | None = None) -> None:
        self._consume("jobs", self.names.jobs, handler, prefetch)

    async def consume_events(self, handler: EventHandler, *, prefetch: int | None = None) -> None:
        self._consume("events", self.names.events, handler, prefetch)

    async def consume_vector_commands(
        self, handler: VectorCommandHandler, *, prefetch: int | None = None
    ) -> None:
        # In order, like RabbitMQ's single active consumer: one command at a time.
        self._consume("vectors", self.names.vectors, handler, prefetch or 1)

    def _consume(
        self,
        kind: Kind,
        work: WorkQueue,
        handler: Callable[[Any], Awaitable[None]],
        prefetch: int | None,
    ) -> None:
        slots = asyncio.Semaphore(prefetch or self.settings.prefetch)
        tasks: set[asyncio.Task[Any]] = set()
        queue = self.hub.queues[work.name]

        async def run(envelope: _Envelope) -> None:
            try:
                await handle_delivery(
                    _MemoryDelivery(self, envelope, work),
                    kind,
                    handler,
                    max_attempts=self.settings.max_attempts,
                    source_queue=work.name,
                )
            finally:
                slots.release()

        async def pump() -> None:
            while True:
                await slots.acquire()
                try:
                    envelope = await queue.get()
                except asyncio.CancelledError:
                    slots.release()
                    raise
                task = asyncio.create_task(run(envelope))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        self._consumers.append(_Consumer(asyncio.create_task(pump()), tasks))

    async def stop_consuming(self, drain_timeout: float | None = None) -> bool:
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            consumer.loop_task.cancel()
        await asyncio.gather(*(c.loop_task for c in consumers), return_exceptions=True)
        tasks = {task for consumer in consumers for task in consumer.tasks}
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=drain_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return not pending

    async def take_dead_letters(self, kind: Kind = "jobs") -> list[DeadLetter]:
        queue = self.hub.queues[self.names.work_queue(kind).dead]
        letters: list[DeadLetter] = []
        while not queue.empty():
            envelope = queue.get_nowait()
            letters.append(DeadLetter(envelope.body, envelope.headers, envelope.message_id))
        return letters

    async def queue_depths(self) -> dict[str, int]:
        depths = {label: self.hub.ready(name) for label, name in depth_queues(self.names).items()}
        # A retry waits on a timer in the hub, not in a queue of its own.
        depths["jobs_retry"] = self.hub.delayed[self.names.jobs.name]
        return depths

    async def rpc_call(self, queue: str, body: bytes, timeout: float | None = None) -> bytes:
        timeout = timeout or self.settings.rpc_timeout_seconds
        target = self.names.rpc_queue(queue)
        server = self.hub.rpc_server(target)
        if server is None:
            raise RpcNoServerError(f"no server for RPC queue {target!r}")
        try:
            return await asyncio.wait_for(server(body), timeout)
        except TimeoutError as exc:
            raise RpcTimeoutError(
                f"no answer on RPC queue {target!r} within {timeout:g} s: no worker serves it or "
                "all are busy"
            ) from exc
        except Exception as exc:
            raise RpcRemoteError(f"{type(exc).__name__}: {exc}") from exc

    async def serve_rpc(self, queue: str, handler: RpcHandler) -> None:
        target = self.names.rpc_queue(queue)
        self.hub.rpc_servers[target].append(handler)
        self._rpc_served.append((target, handler))
