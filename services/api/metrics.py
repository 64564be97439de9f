"""The API's Prometheus metrics: requests, failures, webhooks, and what is read at scrape time.

Counters and histograms live in one process-wide registry (`REGISTRY`), like any Prometheus
client; several apps in one process (tests) add to the same series. Queue depths and meetings
by status are read from the broker and the database when /metrics is scraped, into a registry
of that scrape only: a broker or database that does not answer gives no samples, not an error.

Labels stay bounded: `route` is the path template ("/v1/meetings/{meeting_id}"), never the raw
path; a request no route matched is "unmatched".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.contracts import FailureKind
from core.messaging import metrics as messaging_metrics
from core.messaging.base import QUEUE_DEPTH_LABELS, Broker
from services.api.db.models import Meeting, MeetingStatus

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()

# A REST call takes milliseconds; an upload of a long recording, minutes.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")
# A scrape must answer well within Prometheus's own timeout (10 s by default).
SCRAPE_READ_TIMEOUT_SECONDS = 3.0

HTTP_REQUESTS = Counter(
    "minuta_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "minuta_http_request_duration_seconds",
    "Time to answer an HTTP request (the whole response body sent), by route template",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)
JOB_FAILURES = Counter(
    "minuta_job_failures",
    "Meetings whose processing failed for good, by failure kind",
    ["failure"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "minuta_webhook_deliveries",
    "Webhook delivery attempts: delivered, failed and retried later, or failed for good",
    ["outcome"],
    registry=REGISTRY,
)

# Series at zero from the start: an alert on increase() sees the first failure.
for _kind in FailureKind:
    JOB_FAILURES.labels(_kind.value)
for _outcome in WEBHOOK_OUTCOMES:
    WEBHOOK_DELIVERIES.labels(_outcome)


def record_job_failure(failure: str) -> None:
    JOB_FAILURES.labels(failure).inc()


def record_webhook_delivery(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestMetricsMiddleware:
    """Counts and times every HTTP request (pure ASGI: streaming responses pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The router wrote the matched route into this same scope.
            method, route = scope["method"], route_template(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - began)


@dataclass(frozen=True)
class ScrapeValues:
    """What /metrics reads from the broker and the database; None: it did not answer."""

    queue_depths: dict[str, int] | None
    meetings: dict[str, int] | None


async def read_queue_depths(broker: Broker) -> dict[str, int] | None:
    try:
        async with asyncio.timeout(SCRAPE_READ_TIMEOUT_SECONDS):
            return await broker.queue_depths()
    except Exception as exc:
        log.debug("no queue depths for this scrape: %r", exc)
        return None


async def read_meetings_by_status(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> dict[str, int] | None:
    """Meetings per status over all tenants (zero for a status no meeting has)."""
    try:
        async with asyncio.timeout(SCRAPE_READ_TIMEOUT_SECONDS), sessionmaker() as session:
            rows = await session.execute(
                select(Meeting.status, func.count()).group_by(Meeting.status)
            )
            counts = {str(status): int(count) for status, count in rows.all()}
    except Exception as exc:
        log.debug("no meeting counts for this scrape: %r", exc)
        return None
    return {status.value: counts.get(status.value, 0) for status in MeetingStatus} | counts


class _ScrapeCollector(Collector):
    def __init__(self, values: ScrapeValues) -> None:
        self.values = values

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "minuta_queue_depth", "Messages ready in a broker queue", labels=["queue"]
        )
        for label, count in (self.values.queue_depths or {}).items():
            if label in QUEUE_DEPTH_LABELS:
                depth.add_metric([label], count)
        meetings = GaugeMetricFamily(
            "minuta_meetings", "Meetings by status, all tenants", labels=["status"]
        )
        for status, count in (self.values.meetings or {}).items():
            meetings.add_metric([status], count)
        return [depth, meetings]


class ScrapeCache:
    """The broker and database values of /metrics, read at most once per `ttl` seconds: a
    scrape (or a flood of them) never costs more than one count query per period."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.reads = 0
        self._values: ScrapeValues | None = None
        self._read_at = 0.0
        self._lock = asyncio.Lock()

    async def values(
        self, broker: Broker, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> ScrapeValues:
        async with self._lock:  # concurrent scrapes wait for one read
            fresh = time.monotonic() - self._read_at < self.ttl
            if self._values is None or not fresh:
                depths, meetings = await asyncio.gather(
                    read_queue_depths(broker), read_meetings_by_status(sessionmaker)
                )
                self._values = ScrapeValues(depths, meetings)
                self._read_at = time.monotonic()
                self.reads += 1
            return self._values


async def render(
    broker: Broker,
    sessionmaker: async_sessionmaker[AsyncSession],
    cache: ScrapeCache | None = None,
) -> bytes:
    """The whole /metrics body: this process's API and messaging metrics, then the values
    read from the broker and the database (through `cache` when given)."""
    values = await (cache or ScrapeCache(0)).values(broker, sessionmaker)
    scrape = CollectorRegistry()
    scrape.register(_ScrapeCollector(values))
    return b"".join(
        generate_latest(registry) for registry in (REGISTRY, messaging_metrics.REGISTRY, scrape)
    )
