"""The broker as the API and the ML controller see it, whatever carries the messages.

`AmqpBroker` (RabbitMQ through aio-pika) is the real one; `MemoryBroker` carries the same calls
inside one process for `minuta serve` when no broker URL is set.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from core.contracts import ProcessMeetingJob, VectorCommand, WorkerEvent


class BrokerUnavailableError(ConnectionError):
    """The broker did not take (confirm) a message; the caller keeps it and tries later."""


class DependencyUnavailableError(ConnectionError):
    """A service the handler needs (a database, a store) is down: the message is not at fault.

    It waits a retry delay and comes back without using up one of its attempts, however long the
    outage lasts (an event dead-lettered because the database restarted would be a lost job)."""


class UnroutableError(BrokerUnavailableError):
    """The broker took the message but no queue is bound for it (topology not declared yet)."""


class JobHandler(Protocol):
    def __call__(self, job: ProcessMeetingJob) -> Awaitable[None]:
        """Process one job. Returning acks it; raising a `RetryableJobError` retries it later
        (dead-lettered after the last attempt); any other exception dead-letters it at once."""


EventHandler = Callable[[WorkerEvent], Awaitable[None]]
"""Apply one event. Returning acks it; raising retries it later (an event is a fact that
happened, so any failure to apply it is taken as transient), dead-lettered after the last attempt.
"""

VectorCommandHandler = Callable[[VectorCommand], Awaitable[None]]
"""Apply one vector command. Returning acks it; raising retries it later (the command was
decided by a person, so failing to apply it is taken as transient), dead-lettered after the last
attempt."""

RpcHandler = Callable[[bytes], Awaitable[bytes]]

# The queues whose depth /metrics reports (minuta_queue_depth{queue=...}).
QUEUE_DEPTH_LABELS = ("jobs", "jobs_retry", "jobs_dead", "events_dead", "vectors")


class RetryableJobError(RuntimeError):
    """A transient failure: the job goes back to the broker with a delay."""


class RpcError(RuntimeError):
    """An RPC call got no answer."""


class RpcTimeoutError(RpcError, TimeoutError):
    """No server answered within the timeout (none consuming, or all busy)."""


class RpcNoServerError(RpcError):
    """No server has ever declared the RPC queue."""


class RpcRemoteError(RpcError):
    """The server's handler raised; the message is its error."""


class Broker(Protocol):
    @property
    def max_attempts(self) -> int:
        """Attempts of a job (the first one included) before a retryable failure is final."""

    async def connect(self) -> None:
        """Connects and declares the topology; idempotent. Raises BrokerUnavailableError."""

    async def close(self) -> None:
        """Disconnects; messages of handlers still running go back to their queue."""

    async def publish_job(self, job: ProcessMeetingJob) -> None:
        """Returns once the broker has confirmed the message; raises BrokerUnavailableError."""

    async def publish_event(self, event: WorkerEvent) -> None:
        """Returns once the broker has confirmed the message; raises BrokerUnavailableError."""

    async def publish_vector_command(self, command: VectorCommand) -> None:
        """Durable, like a job; returns once confirmed; raises BrokerUnavailableError."""

    async def consume_jobs(self, handler: JobHandler, *, prefetch: int | None = None) -> None:
        """Starts consuming (at most `prefetch` jobs in hand, default from the settings); returns
        at once, consuming goes on until `stop_consuming` or `close`. A message is acked only
        after `handler` returned (so after anything it published was confirmed)."""

    async def consume_events(self, handler: EventHandler, *, prefetch: int | None = None) -> None:
        """Starts consuming events; each is acked only after `handler` returned."""

    async def consume_vector_commands(
        self, handler: VectorCommandHandler, *, prefetch: int | None = None
    ) -> None:
        """Starts consuming vector commands; each is acked only after `handler` returned. One
        consumer at a time is active on the queue, so commands apply in the order published."""

    async def stop_consuming(self, drain_timeout: float | None = None) -> bool:
        """Takes no new messages and waits for the handlers in progress. Those still running
        after `drain_timeout` seconds are cancelled and their messages go back to the queue.
        True when every handler finished."""

    async def rpc_call(self, queue: str, body: bytes, timeout: float | None = None) -> bytes:
        """Sends `body` to the server of `queue` and returns its answer. Raises RpcTimeoutError,
        RpcNoServerError, RpcRemoteError or BrokerUnavailableError."""

    async def serve_rpc(self, queue: str, handler: RpcHandler) -> None:
        """Answers calls on `queue` with `handler` (competing with other servers of it)."""

    async def queue_depths(self) -> dict[str, int]:
        """Messages ready in the queues worth watching, by `QUEUE_DEPTH_LABELS` label (metrics).
        Never connects: raises BrokerUnavailableError when not connected right now."""
