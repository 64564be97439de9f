"""The FastAPI application factory and its background tasks (outbox relay, event consumer)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import sentry_sdk
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.messaging.base import Broker, BrokerUnavailableError
from core.messaging.settings import BrokerSettings
from core.settings import TelemetrySettings
from core.telemetry.sentry import init_sentry
from services.api.context import ApiContext
from services.api.db.engine import create_engine, create_sessionmaker
from services.api.db.migrate import upgrade_database_async
from services.api.events import EventApplier, MeetingNotifier
from services.api.job_links import JobLinks
from services.api.metrics import RequestMetricsMiddleware, ScrapeCache
from services.api.openapi import install_openapi
from services.api.outages import (
    DATABASE_UNAVAILABLE,
    RETRY_AFTER_SECONDS,
    is_database_outage,
    waits_for_database,
)
from services.api.outbox import OutboxRelay
from services.api.quotas import Quotas
from services.api.retention import RetentionSweeper
from services.api.routes import (
    audio,
    files,
    health,
    jobs,
    meetings,
    persons,
    search,
    webhooks,
)
from services.api.routes import metrics as metrics_routes
from services.api.routes import retention as retention_routes
from services.api.security import install_security
from services.api.settings import ApiSettings
from services.api.sniff import NotAudioError
from services.api.storage.base import Storage, StorageError
from services.api.storage.factory import build_storage
from services.api.storage.local import LocalStorage
from services.api.storage.signing import UrlSigner, load_signing_secret
from services.api.upload import UploadError
from services.api.web import install_web
from services.api.webhooks import WebhookDispatcher
from services.bots.controller.backends.base import ComputeBackend
from services.bots.controller.backends.factory import build_backend
from services.bots.controller.controller import MeetingController
from services.bots.controller.settings import ControllerSettings
from services.bots.routes import router as bots_router
from services.egress import EgressPolicy

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"


def _default_broker(broker_settings: BrokerSettings | None) -> Broker:
    from core.messaging.factory import make_broker

    return make_broker(broker_settings or BrokerSettings())


async def consume_events_forever(ctx: ApiContext, max_delay: float = 30.0) -> None:
    """Connect (retrying while the broker is down) and start consuming job events."""
    delay = 1.0
    while True:
        try:
            await ctx.broker.connect()
            await ctx.broker.consume_events(waits_for_database(ctx.applier))
            log.info("consuming job events")
            return
        except BrokerUnavailableError as exc:
            log.warning("broker unavailable (%s); retrying in %.0f s", exc, delay)
        except Exception:
            # Whatever it was, events would pile up unread: keep trying rather than give up.
            log.exception("cannot consume job events; retrying in %.0f s", delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def abort_stale_uploads(ctx: ApiContext) -> None:
    """Once at startup: clear what uploads cut off by a crash of this or another API left."""
    try:
        removed = await ctx.storage.abort_stale_uploads(ctx.settings.stale_upload_seconds)
    except StorageError as exc:
        log.warning("could not look for abandoned uploads: %s", exc)
        return
    if removed:
        log.info("removed %d abandoned upload(s)", removed)


def create_app(
    settings: ApiSettings | None = None,
    *,
    broker: Broker | None = None,
    storage: Storage | None = None,
    background: bool = True,
    controller_settings: ControllerSettings | None = None,
    bot_backend: ComputeBackend | None = None,
    egress: EgressPolicy | None = None,
    webhook_client: httpx.AsyncClient | None = None,
    broker_settings: BrokerSettings | None = None,
    telemetry: TelemetrySettings | None = None,
) -> FastAPI:
    """The API. `broker`/`storage` default to what the settings ask for; an injected broker is
    not closed by the app (give the API its own instance: the app stops its consumers).
    `background=False` starts neither the outbox relay nor the event consumer (tests drive
    `app.state.ctx.relay` and `app.state.ctx.applier` themselves, and the meeting controller
    through `app.state.bot_controller`). `egress` replaces the policy built from
    `settings.egress_allow_cidrs` (tests give it a resolver that answers without DNS), and
    `webhook_client` the pinned client deliveries go through (the app then leaves it open).
    Each settings section not given is read from the environment (entrypoints/settings.py
    gives the process's own)."""
    settings = settings or ApiSettings()
    telemetry = telemetry or TelemetrySettings()
    # Before the app exists, so the SDK's FastAPI integration instruments it.
    init_sentry(
        "api",
        telemetry.sentry_dsn,
        environment=telemetry.sentry_environment,
        release=telemetry.sentry_release,
    )
    database_url = settings.resolved_database_url
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    storage = storage or build_storage(settings)
    owns_broker = broker is None
    broker = broker if broker is not None else _default_broker(broker_settings)
    notifier = MeetingNotifier()
    egress = egress or EgressPolicy.from_setting(settings.egress_allow_cidrs)
    job_links = JobLinks(settings, UrlSigner(load_signing_secret(settings)))
    dispatcher = WebhookDispatcher(sessionmaker, settings, webhook_client, egress=egress)
    ctx = ApiContext(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        storage=storage,
        broker=broker,
        relay=OutboxRelay(sessionmaker, broker, storage, settings, job_links),
        applier=EventApplier(
            sessionmaker,
            notifier=notifier,
            webhooks=dispatcher,
            platform_naming=settings.platform_naming,
        ),
        webhooks=dispatcher,
        notifier=notifier,
        egress=egress,
        quotas=Quotas(settings),
        job_links=job_links,
    )

    controller_settings = controller_settings or ControllerSettings()
    bot_controller = MeetingController(
        sessionmaker,
        bot_backend or build_backend(controller_settings, settings.data_dir),
        controller_settings,
        api_url=controller_settings.public_api_url or settings.resolved_public_base_url,
        egress_allow=egress.allow,
    )

    retention = RetentionSweeper(
        sessionmaker,
        storage,
        interval=settings.retention_sweep_seconds,
        batch_size=settings.retention_batch_size,
        on_meetings_deleted=ctx.relay.wake,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_startup:
            await upgrade_database_async(database_url)
        await ctx.storage.ensure_ready()
        tasks: list[asyncio.Task[None]] = []
        if background:
            tasks.append(asyncio.create_task(abort_stale_uploads(ctx), name="stale-uploads"))
            tasks.append(asyncio.create_task(consume_events_forever(ctx), name="events"))
            tasks.append(asyncio.create_task(ctx.relay.run(), name="outbox-relay"))
            if controller_settings.bot_controller_enabled:
                tasks.append(asyncio.create_task(bot_controller.run(), name="meeting-controller"))
            if settings.retention_sweep_seconds > 0:
                tasks.append(asyncio.create_task(retention.run(), name="retention-sweep"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if background:
                with contextlib.suppress(Exception):
                    await ctx.broker.stop_consuming(drain_timeout=5.0)
            await ctx.webhooks.close()
            if owns_broker:
                await ctx.broker.close()
            await engine.dispose()

    app = FastAPI(
        title="Minuta API",
        version=API_VERSION,
        summary="Meeting recordings in, minutes out.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.bot_controller = bot_controller
    app.state.retention = retention
    app.state.metrics_cache = ScrapeCache(settings.metrics_cache_seconds)
    app.include_router(meetings.router)
    app.include_router(audio.router)
    app.include_router(persons.router)
    app.include_router(search.router)
    app.include_router(webhooks.router)
    app.include_router(jobs.router)
    app.include_router(bots_router)
    app.include_router(health.router)
    app.include_router(metrics_routes.router)
    app.include_router(retention_routes.router)
    if isinstance(storage, LocalStorage):
        app.include_router(files.router)
    install_web(app)
    install_openapi(app)
    _install_error_handlers(app)
    install_security(app, settings)
    # Outermost: requests the security layer refuses (429, 413) are counted too.
    app.add_middleware(RequestMetricsMiddleware)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(UploadError)
    async def _upload_error(_request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code)

    @app.exception_handler(NotAudioError)
    async def _not_audio(_request: Request, exc: NotAudioError) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, status_code=status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
        )

    def _database_unavailable(exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": DATABASE_UNAVAILABLE},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    # Only the connection-level errors: an IntegrityError is a bug and stays a 500.
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeoutError)
    async def _database_down(_request: Request, exc: Exception) -> JSONResponse:
        return _database_unavailable(exc)

    @app.exception_handler(OSError)
    @app.exception_handler(TimeoutError)
    async def _os_error(_request: Request, exc: Exception) -> JSONResponse:
        # asyncpg raises bare OS errors while connecting; anything else is ours.
        if is_database_outage(exc):
            return _database_unavailable(exc)
        log.error("unexpected error", exc_info=exc)
        sentry_sdk.capture_exception(exc)
        return JSONResponse(
            {"detail": "Internal Server Error"},
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    @app.exception_handler(StorageError)
    async def _storage_error(_request: Request, exc: StorageError) -> JSONResponse:
        log.error("storage error: %s", exc)
        return JSONResponse(
            {"detail": "The recording store is unavailable right now; try again shortly."},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
