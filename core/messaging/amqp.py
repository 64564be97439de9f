"""`AmqpBroker`: the broker Protocol on RabbitMQ through aio-pika.

One robust connection; one channel with publisher confirms for everything this process publishes
(returns raise, so an unroutable message is an error rather than silently dropped); one channel per
consumer, each with its own prefetch. A delivery is settled (see core.messaging.delivery)
only after its handler returned, so anything the handler published was already confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS, PublishError
from yarl import URL

from core.contracts import ProcessMeetingJob, SpeakerMatches, VectorCommand
from core.messaging.base import (
    BrokerUnavailableError,
    EventHandler,
    JobHandler,
    RpcHandler,
    RpcNoServerError,
    RpcRemoteError,
    RpcTimeoutError,
    UnroutableError,
    VectorCommandHandler,
    WorkerEvent,
)
from core.messaging.delivery import (
    RPC_ERROR_HEADER,
    DeadLetter,
    Kind,
    handle_delivery,
)
from core.messaging.metrics import depth_queues
from core.messaging.settings import BrokerSettings
from core.messaging.topology import (
    JOB_ROUTING_KEY,
    Declared,
    Names,
    WorkQueue,
    declare_topology,
)

log = logging.getLogger(__name__)

_BROKER_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, *CONNECTION_EXCEPTIONS)


def redacted(url: str) -> str:
    """The broker URL without its password, for messages and logs."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


@dataclass
class _Consumer:
    channel: AbstractChannel
    queue: AbstractQueue
    tag: str
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    stopping: bool = False


class _AmqpDelivery:
    def __init__(self, broker: AmqpBroker, message: AbstractIncomingMessage, queue: WorkQueue):
        self._broker = broker
        self._message = message
        self._queue = queue
        self.body = message.body
        self.headers: dict[str, Any] = dict(message.headers or {})
        self.message_id = message.message_id

    async def ack(self) -> None:
        await self._message.ack()

    async def requeue(self) -> None:
        await self._message.nack(requeue=True)

    async def publish_retry(self, body: bytes, headers: dict[str, Any]) -> None:
        await self._broker.publish_raw("", self._queue.retry, body, headers, self.message_id)

    async def publish_dead(self, body: bytes, headers: dict[str, Any]) -> None:
        await self._broker.publish_raw("", self._queue.dead, body, headers, self.message_id)


class AmqpBroker:
    def __init__(self, settings: BrokerSettings, *, connection_name: str = "minuta") -> None:
        """`connection_name` shows in RabbitMQ's connection list ("minuta-api", "minuta-worker")."""
        if not settings.broker_url:
            raise ValueError("AmqpBroker needs MINUTA_BROKER_URL (amqp://user:password@host/)")
        self.settings = settings
        self.names = Names.from_prefix(settings.broker_name_prefix)
        self._url = settings.broker_url
        self.connection_name = connection_name
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._declared: Declared | None = None
        self._connect_lock = asyncio.Lock()
        self._consumers: list[_Consumer] = []
        self._rpc_channel: AbstractChannel | None = None
        self._reply_queue: AbstractQueue | None = None
        self._pending_calls: dict[str, asyncio.Future[AbstractIncomingMessage]] = {}

    @property
    def max_attempts(self) -> int:
        return self.settings.max_attempts

    @property
    def connected(self) -> bool:
        """False while a lost connection is being re-established (health checks use this)."""
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    async def connect(self) -> None:
        async with self._connect_lock:
            # A robust connection that is reconnecting is still ours: it restores itself.
            connection = self._connection
            if self._publisher is not None and connection is not None and not connection.is_closed:
                return
            timeout = self.settings.broker_connect_timeout_seconds
            try:
                # The outer bound also covers a peer that accepts TCP but never speaks AMQP.
                connection = await asyncio.wait_for(
                    aio_pika.connect_robust(
                        self._url,
                        timeout=timeout,
                        client_properties={"connection_name": self.connection_name},
                        reconnect_interval=self.settings.broker_reconnect_interval_seconds,
                    ),
                    timeout + 1,
                )
            except _BROKER_ERRORS as exc:
                raise BrokerUnavailableError(
                    f"cannot connect to the broker at {redacted(self._url)}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            try:
                publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
                declared = await declare_topology(publisher, self.settings)
            except BaseException:
                await connection.close()
                raise
            self._connection, self._publisher, self._declared = connection, publisher, declared

    async def close(self) -> None:
        await self.stop_consuming(drain_timeout=0)
        for future in self._pending_calls.values():
            future.cancel()
        self._pending_calls.clear()
        connection, self._connection = self._connection, None
        self._publisher = self._declared = self._rpc_channel = self._reply_queue = None
        if connection is not None:
            with contextlib.suppress(*_BROKER_ERRORS):
                await connection.close()

    # Publishing

    async def publish_job(self, job: ProcessMeetingJob) -> None:
        await self.connect()
        assert self._declared is not None
        await self._publish(
            self._declared.jobs_exchange.name,
            JOB_ROUTING_KEY,
            job.model_dump_json().encode(),
            message_id=str(job.job_id),
            kind=job.kind,
        )

    async def publish_event(self, event: WorkerEvent) -> None:
        await self.connect()
        assert self._declared is not None
        await self._publish(
            self._declared.events_exchange.name,
            event.kind,
            event.model_dump_json().encode(),
            message_id=uuid.uuid4().hex,
            kind=event.kind,
            # Speaker matches belong to no job.
            correlation_id=None if isinstance(event, SpeakerMatches) else str(event.job_id),
        )

    async def publish_vector_command(self, command: VectorCommand) -> None:
        await self.connect()
        await self._publish(
            "",
            self.names.vectors.name,
            command.model_dump_json().encode(),
            message_id=uuid.uuid4().hex,
            kind=command.kind,
        )

    async def publish_raw(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        headers: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> None:
        """Publish bytes as they are (retry and dead-letter copies; tests of unreadable bodies)."""
        await self.connect()
        await self._publish(exchange, routing_key, body, message_id=message_id, headers=headers)

    async def _publish(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str | None = None,
        kind: str | None = None,
        headers: dict[str, Any] | None = None,
        correlation_id: str | None = None,
        reply_to: str | None = None,
        expiration: float | None = None,
        persistent: bool = True,
        mandatory: bool = True,
    ) -> None:
        channel = self._publisher
        if channel is None:
            raise BrokerUnavailableError("the broker connection is closed")
        message = aio_pika.Message(
            body,
            headers=headers or {},
            content_type="application/json",
            delivery_mode=(
                aio_pika.DeliveryMode.PERSISTENT
                if persistent
                else aio_pika.DeliveryMode.NOT_PERSISTENT
            ),
            message_id=message_id,
            correlation_id=correlation_id,
            reply_to=reply_to,
            expiration=expiration,
            type=kind,
            app_id="minuta",
        )
        timeout = self.settings.broker_publish_timeout_seconds
        try:
            target = await self._exchange(channel, exchange)
            # The outer bound also covers a robust channel waiting for its reconnection.
            await asyncio.wait_for(
                target.publish(message, routing_key, mandatory=mandatory, timeout=timeout),
                timeout,
            )
        except PublishError as exc:
            raise UnroutableError(
                f"no queue is bound for {routing_key!r} on exchange {exchange or '(default)'!r}"
            ) from exc
        except _BROKER_ERRORS as exc:
            raise BrokerUnavailableError(
                f"the broker did not confirm a message for {routing_key!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    async def _exchange(self, channel: AbstractChannel, name: str) -> aio_pika.abc.AbstractExchange:
        if name == "":
            return channel.default_exchange
        declared = self._declared
        if declared is not None:
            for exchange in (declared.jobs_exchange, declared.events_exchange):
                if exchange.name == name:
                    return exchange
        try:
            return await channel.get_exchange(name, ensure=False)
        except _BROKER_ERRORS as exc:
            raise BrokerUnavailableError(str(exc)) from exc

    # Consuming

    async def consume_jobs(self, handler: JobHandler, *, prefetch: int | None = None) -> None:
        await self._consume("jobs", self.names.jobs, handler, prefetch)

    async def consume_events(self, handler: EventHandler, *, prefetch: int | None = None) -> None:
        await self._consume("events", self.names.events, handler, prefetch)

    async def consume_vector_commands(
        self, handler: VectorCommandHandler, *, prefetch: int | None = None
    ) -> None:
        # One at a time: with the queue's single active consumer this keeps them in order.
        await self._consume("vectors", self.names.vectors, handler, prefetch or 1)

    async def _consume(
        self,
        kind: Kind,
        work: WorkQueue,
        handler: Callable[[Any], Awaitable[None]],
        prefetch: int | None,
    ) -> None:
        await self.connect()
        assert self._connection is not None
        try:
            channel = await self._connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=prefetch or self.settings.prefetch)
            # Declared by connect(); passive here so a missing queue is an error, not a default.
            queue = await channel.get_queue(work.name, ensure=True)
        except _BROKER_ERRORS as exc:
            raise BrokerUnavailableError(f"cannot consume {work.name}: {exc}") from exc
        consumer = _Consumer(channel=channel, queue=queue, tag="")

        async def on_message(message: AbstractIncomingMessage) -> None:
            if consumer.stopping:
                # Arrived between our cancel and the broker's cancel-ok.
                with contextlib.suppress(*_BROKER_ERRORS):
                    await message.nack(requeue=True)
                return
            task = asyncio.create_task(self._run(kind, work, handler, message))
            consumer.tasks.add(task)
            task.add_done_callback(consumer.tasks.discard)

        consumer.tag = await queue.consume(on_message, no_ack=False)
        self._consumers.append(consumer)

    async def _run(
        self,
        kind: Kind,
        work: WorkQueue,
        handler: Callable[[Any], Awaitable[None]],
        message: AbstractIncomingMessage,
    ) -> None:
        await handle_delivery(
            _AmqpDelivery(self, message, work),
            kind,
            handler,
            max_attempts=self.settings.max_attempts,
            source_queue=work.name,
        )

    async def stop_consuming(self, drain_timeout: float | None = None) -> bool:
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            consumer.stopping = True
            with contextlib.suppress(*_BROKER_ERRORS):
                await consumer.queue.cancel(consumer.tag)
        tasks = {task for consumer in consumers for task in consumer.tasks}
        finished = True
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=drain_timeout)
            for task in pending:
                task.cancel()
            if pending:
                finished = False
                await asyncio.gather(*pending, return_exceptions=True)
        for consumer in consumers:
            with contextlib.suppress(*_BROKER_ERRORS):
                await consumer.channel.close()
        return finished

    async def take_dead_letters(self, kind: Kind = "jobs") -> list[DeadLetter]:
        """Remove and return what waits in the dead queue (inspection, tests)."""
        await self.connect()
        assert self._publisher is not None
        work = self.names.work_queue(kind)
        queue = await self._publisher.get_queue(work.dead, ensure=True)
        letters: list[DeadLetter] = []
        while (message := await queue.get(fail=False, timeout=5)) is not None:
            letters.append(
                DeadLetter(message.body, dict(message.headers or {}), message.message_id)
            )
            await message.ack()
        return letters

    async def queue_depths(self) -> dict[str, int]:
        """Ready messages by minuta_queue_depth label, read with passive declares on a channel of
        their own: a scrape never declares anything, and a missing queue closes only that."""
        connection = self._connection
        if connection is None or not self.connected:
            raise BrokerUnavailableError("not connected to the broker")
        depths: dict[str, int] = {}
        try:
            async with asyncio.timeout(self.settings.broker_connect_timeout_seconds):
                channel = await connection.channel(publisher_confirms=False)
                try:
                    for label, name in depth_queues(self.names).items():
                        queue = await channel.declare_queue(name, passive=True)
                        depths[label] = int(queue.declaration_result.message_count or 0)
                finally:
                    if not channel.is_closed:
                        await channel.close()
        except Exception as exc:
            raise BrokerUnavailableError(f"cannot read queue depths: {exc!r}") from exc
        return depths

    # RPC

    async def rpc_call(self, queue: str, body: bytes, timeout: float | None = None) -> bytes:
        timeout = timeout or self.settings.rpc_timeout_seconds
        reply_to = await self._ensure_reply_queue()
        correlation_id = uuid.uuid4().hex
        answer: asyncio.Future[AbstractIncomingMessage] = asyncio.get_running_loop().create_future()
        self._pending_calls[correlation_id] = answer
        target = self.names.rpc_queue(queue)
        try:
            try:
                await self._publish(
                    "",
                    target,
                    body,
                    correlation_id=correlation_id,
                    reply_to=reply_to,
                    # A request nobody took in time is useless: let the broker drop it.
                    expiration=timeout,
                    persistent=False,
                )
            except UnroutableError as exc:
                raise RpcNoServerError(f"no server for RPC queue {target!r}") from exc
            try:
                message = await asyncio.wait_for(answer, timeout)
            except TimeoutError as exc:
                raise RpcTimeoutError(
                    f"no answer on RPC queue {target!r} within {timeout:g} s: no worker serves it "
                    "or all are busy"
                ) from exc
        finally:
            self._pending_calls.pop(correlation_id, None)
        error = (message.headers or {}).get(RPC_ERROR_HEADER)
        if error is not None:
            raise RpcRemoteError(str(error))
        return message.body

    async def _ensure_reply_queue(self) -> str:
        await self.connect()
        if self._reply_queue is None:
            assert self._connection is not None
            channel = await self._connection.channel(publisher_confirms=False)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.consume(self._on_reply, no_ack=True)
            self._rpc_channel, self._reply_queue = channel, queue
        return self._reply_queue.name

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending_calls.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message)

    async def serve_rpc(self, queue: str, handler: RpcHandler) -> None:
        await self.connect()
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self.settings.prefetch)
        # Auto-delete: with no server left, a call fails at once (unroutable) instead of waiting.
        rpc_queue = await channel.declare_queue(
            self.names.rpc_queue(queue), durable=False, auto_delete=True
        )
        consumer = _Consumer(channel=channel, queue=rpc_queue, tag="")

        async def answer(message: AbstractIncomingMessage) -> None:
            headers: dict[str, Any] = {}
            try:
                body = await handler(message.body)
            except Exception as exc:
                log.exception("RPC handler on %s failed", rpc_queue.name)
                body, headers = b"", {RPC_ERROR_HEADER: f"{type(exc).__name__}: {exc}"[:1000]}
            if message.reply_to:
                try:
                    # Not mandatory: a caller that gave up has taken its reply queue away.
                    await self._publish(
                        "",
                        message.reply_to,
                        body,
                        headers=headers,
                        correlation_id=message.correlation_id,
                        persistent=False,
                        mandatory=False,
                    )
                except BrokerUnavailableError:
                    log.warning("could not answer an RPC call on %s", rpc_queue.name)
            with contextlib.suppress(*_BROKER_ERRORS):
                await message.ack()

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.create_task(answer(message))
            consumer.tasks.add(task)
            task.add_done_callback(consumer.tasks.discard)

        consumer.tag = await rpc_queue.consume(on_message, no_ack=False)
        self._consumers.append(consumer)
