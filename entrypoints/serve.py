"""`minuta serve`: the API and one worker in one process, for a single user trying Minuta.

With no MINUTA_BROKER_URL the two talk through an in-process broker. Its queues live in memory,
so at start every meeting that is not finished is queued again from the database: a restart
delays a job, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from socket import socket

import uvicorn
from sqlalchemy import select, update

from core.messaging.factory import make_broker
from core.messaging.memory import MemoryHub
from entrypoints.settings import Settings
from ml_controller.pipeline import MeetingPipeline
from ml_controller.vectors import VectorSettings
from ml_controller.worker.runner import Worker
from services.api.app import create_app
from services.api.db.engine import create_engine, create_sessionmaker
from services.api.db.migrate import upgrade_database_async
from services.api.db.models import (
    Meeting,
    MeetingStatus,
    OutboxJob,
    OutboxVectorCommand,
    utcnow,
)
from services.api.settings import ApiSettings

log = logging.getLogger(__name__)


async def requeue_unfinished(database_url: str) -> int:
    """Mark the outbox rows of unfinished meetings unsent; returns how many."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            unfinished = select(Meeting.id).where(
                Meeting.status.in_([MeetingStatus.queued.value, MeetingStatus.processing.value])
            )
            done = await session.execute(
                update(OutboxJob)
                .where(OutboxJob.sent_at.is_not(None), OutboxJob.meeting_id.in_(unfinished))
                .values(sent_at=None, next_attempt_at=utcnow())
            )
            return int(done.rowcount or 0)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


async def resend_vector_commands(database_url: str) -> int:
    """Mark every vector command unsent: the in-process queue may have died holding some.
    They are idempotent and go out again in their order, so the end state is the same."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            done = await session.execute(
                update(OutboxVectorCommand)
                .where(OutboxVectorCommand.sent_at.is_not(None))
                .values(sent_at=None, next_attempt_at=utcnow())
            )
            return int(done.rowcount or 0)  # type: ignore[attr-defined]
    finally:
        await engine.dispose()


def vector_settings_for(settings: ApiSettings, vectors: VectorSettings) -> VectorSettings:
    """The embedded store goes under the data dir, beside the database, unless set otherwise."""
    if vectors.qdrant_url or vectors.qdrant_path is not None:
        return vectors
    return vectors.model_copy(update={"qdrant_path": settings.data_dir / "qdrant"})


class _Server(uvicorn.Server):
    """uvicorn, stopping the worker first: while it drains, the API still applies its results."""

    def __init__(self, config: uvicorn.Config, worker: Worker) -> None:
        super().__init__(config)
        self._worker = worker
        self.drained: bool | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn's own handlers re-raise the signal after shutdown, which would end the process
        # before serve() closes the brokers; serve() installs handlers that only ask to exit.
        yield

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        self.drained = await self._worker.stop()
        await super().shutdown(sockets)


@contextlib.contextmanager
def _exit_on_signals(server: uvicorn.Server) -> Iterator[None]:
    def ask() -> None:
        # A second signal skips the graceful wait, as with plain uvicorn.
        server.force_exit = server.should_exit
        server.should_exit = True

    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, ask)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def serve(root: Settings) -> bool:
    """Runs until SIGINT/SIGTERM; True when the worker finished its jobs (none was put back).
    `root` is the process's settings; the API and the worker each get their sections."""
    settings = root.api
    broker_settings = root.broker
    hub = MemoryHub() if not broker_settings.broker_url else None
    if hub is not None:
        await upgrade_database_async(settings.resolved_database_url)
        again = await requeue_unfinished(settings.resolved_database_url)
        if again:
            log.info("queued %d unfinished meeting(s) again", again)
        await resend_vector_commands(settings.resolved_database_url)
    # Two connections, as two processes would have: stopping the worker must not stop the
    # API's event consumer.
    api_broker = make_broker(broker_settings, hub)
    worker_broker = make_broker(broker_settings, hub)
    worker = Worker(
        worker_broker,
        root.worker,
        pipeline=MeetingPipeline(root.ml),
        vector_settings=vector_settings_for(settings, root.vectors),
    )
    app = create_app(
        settings,
        broker=api_broker,
        controller_settings=root.bots,
        broker_settings=broker_settings,
        telemetry=root.telemetry,
    )
    # One /metrics for the whole process: the worker's (stage durations, real-time factor) too.
    app.state.metrics_registries = [worker.metrics.registry]
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            timeout_graceful_shutdown=10,
            # Through the process's own logging (JSON lines, scrubbed), not uvicorn's handlers.
            log_config=None,
        ),
        worker,
    )
    started = asyncio.create_task(worker.start(), name="worker")
    try:
        with _exit_on_signals(server):
            await server.serve()
    finally:
        if not started.done():
            started.cancel()
        await asyncio.gather(started, return_exceptions=True)
        drained = await worker.stop() if server.drained is None else server.drained
        await worker_broker.close()
        await api_broker.close()
    return drained
