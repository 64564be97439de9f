"""`minuta worker`: the ML controller as its own process, on RabbitMQ.

SIGTERM (or Ctrl-C) stops taking jobs and lets the current one finish; after the drain timeout it
goes back to the queue and the process exits. A killed process needs nothing: RabbitMQ gives its
unacknowledged job to another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Annotated

import typer

from core.settings import set_offline_env
from entrypoints.settings import Settings, load

app = typer.Typer(add_completion=False, help=__doc__)
log = logging.getLogger("minuta.worker")


async def run_worker(root: Settings) -> bool:
    """Run until SIGTERM/SIGINT. True when no job had to be put back at the drain timeout.
    `root` is the process's settings: the worker, broker, ML, vector and telemetry sections."""
    from core.messaging.amqp import AmqpBroker
    from core.messaging.base import BrokerUnavailableError
    from core.telemetry.sentry import init_sentry
    from ml_controller.pipeline import MeetingPipeline
    from ml_controller.worker.health import HealthServer, WorkerMetrics, new_health_state
    from ml_controller.worker.runner import Worker

    settings, broker_settings, telemetry = root.worker, root.broker, root.telemetry
    if not broker_settings.broker_url:
        raise typer.BadParameter(
            "MINUTA_BROKER_URL is not set: a separate worker needs RabbitMQ "
            "(`minuta serve` runs a worker inside the API process instead)"
        )
    init_sentry(
        "ml-controller",
        telemetry.sentry_dsn,
        environment=telemetry.sentry_environment,
        release=telemetry.sentry_release,
        traces_sample_rate=telemetry.sentry_traces_sample_rate,
    )
    broker = AmqpBroker(broker_settings, connection_name=f"minuta-worker-{os.getpid()}")
    metrics = WorkerMetrics()
    health = new_health_state(lambda: broker.connected)
    server = None
    if settings.worker_health_enabled:
        server = HealthServer(
            health, metrics, settings.worker_health_host, settings.worker_health_port
        ).start()
        log.info(
            "health and metrics on http://%s:%d/healthz and /metrics",
            settings.worker_health_host,
            server.port,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(
        broker,
        settings,
        pipeline=MeetingPipeline(root.ml),
        metrics=metrics,
        health=health,
        vector_settings=root.vectors,
    )
    try:
        # RabbitMQ may come up after the worker (compose, a cluster restart): wait for it.
        while not stop.is_set():
            try:
                await broker.connect()
                break
            except BrokerUnavailableError as exc:
                pause = broker_settings.broker_reconnect_interval_seconds
                log.warning("%s; trying again in %.0f s", exc, pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
        if stop.is_set():
            return True
        await worker.start()
        await stop.wait()
        log.info("stopping: no new jobs; waiting for the current one")
        return await worker.stop()
    finally:
        await broker.close()
        if server is not None:
            server.stop()


@app.command("worker")
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Jobs in hand at once (MINUTA_WORKER_CONCURRENCY)")
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(
            min=0, help="Port of /healthz and /metrics, 0 = any (MINUTA_WORKER_HEALTH_PORT)"
        ),
    ] = None,
    drain_timeout: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds a job may finish after SIGTERM before it is requeued"),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR [MINUTA_LOG_LEVEL]")
    ] = None,
) -> None:
    """Take meeting jobs from RabbitMQ (MINUTA_BROKER_URL) and process them until SIGTERM."""
    set_offline_env()  # before the pipeline imports a model library
    from core.telemetry.logging import configure_logging

    root = load()
    configure_logging("worker", level=log_level, settings=root.telemetry)  # MINUTA_LOG_FORMAT
    overrides: dict[str, object] = {}
    if concurrency is not None:
        overrides["worker_concurrency"] = concurrency
    if health_port is not None:
        overrides["worker_health_port"] = health_port
    if drain_timeout is not None:
        overrides["worker_drain_timeout_seconds"] = drain_timeout
    if overrides:
        from ml_controller.worker.settings import WorkerSettings

        # The section built with the options, which win over MINUTA_WORKER_* and are validated
        # as those are.
        root.worker = WorkerSettings(**overrides)  # type: ignore[arg-type]

    from core.messaging.base import BrokerUnavailableError

    try:
        finished = asyncio.run(run_worker(root))
    except BrokerUnavailableError as exc:  # lost while starting to consume
        log.error("%s", exc)
        raise typer.Exit(1) from None
    log.info("worker stopped")
    if not finished:
        # A requeued job's pipeline thread is still running native code; do not let interpreter
        # teardown race with it. Its job is already back in the queue.
        import sentry_sdk

        sentry_sdk.flush(timeout=5)
        logging.shutdown()
        os._exit(0)


if __name__ == "__main__":
    app()
