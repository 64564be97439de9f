"""Test doubles for the broker: clearly fakes, recording what the API sends."""

from __future__ import annotations

from typing import Any

from core.contracts import ProcessMeetingJob, VectorCommand
from core.messaging.base import (
    BrokerUnavailableError,
    EventHandler,
    JobHandler,
    RpcHandler,
    RpcNoServerError,
    VectorCommandHandler,
    WorkerEvent,
)


class RecordingBrokerFake:
    """Implements the Broker protocol in memory; `available = False` simulates an outage
    (publishes raise BrokerUnavailableError as the real broker does without a confirm)."""

    def __init__(self) -> None:
        self.available = True
        self.published: list[ProcessMeetingJob] = []
        self.commands: list[VectorCommand] = []
        self.refused = 0
        self.event_handler: EventHandler | None = None
        self.connected = False

    @property
    def max_attempts(self) -> int:
        return 3

    async def connect(self) -> None:
        if not self.available:
            raise BrokerUnavailableError("fake broker is down")
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def publish_job(self, job: ProcessMeetingJob) -> None:
        if not self.available:
            self.refused += 1
            raise BrokerUnavailableError("fake broker is down")
        self.published.append(job)

    async def publish_event(self, event: WorkerEvent) -> None:
        await self.deliver(event)

    async def publish_vector_command(self, command: VectorCommand) -> None:
        if not self.available:
            self.refused += 1
            raise BrokerUnavailableError("fake broker is down")
        self.commands.append(command)

    async def consume_vector_commands(
        self, handler: VectorCommandHandler, *, prefetch: int | None = None
    ) -> None:
        raise NotImplementedError("the API never consumes vector commands")

    async def consume_jobs(self, handler: JobHandler, *, prefetch: int | None = None) -> None:
        raise NotImplementedError("the API never consumes jobs")

    async def consume_events(self, handler: EventHandler, *, prefetch: int | None = None) -> None:
        self.event_handler = handler

    async def stop_consuming(self, drain_timeout: float | None = None) -> bool:
        self.event_handler = None
        return True

    async def rpc_call(self, queue: str, body: bytes, timeout: float | None = None) -> bytes:
        raise RpcNoServerError(queue)

    async def serve_rpc(self, queue: str, handler: RpcHandler) -> None:
        raise NotImplementedError

    async def queue_depths(self) -> dict[str, int]:
        if not self.available:
            raise BrokerUnavailableError("fake broker is down")
        return {"jobs": len(self.published), "vectors": len(self.commands)}

    async def deliver(self, event: WorkerEvent) -> Any:
        """What the broker does with an event: hand it to the consumer (as often as asked)."""
        assert self.event_handler is not None, "the API is not consuming events"
        return await self.event_handler(event)
