"""The worker's metrics and its HTTP endpoint: /healthz, /readyz and /metrics (Prometheus).

The endpoint runs in its own thread, so it answers even while the event loop is busy; /healthz
reports the loop's last heartbeat instead, which is what shows a stuck worker.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from core.messaging import metrics as messaging_metrics

log = logging.getLogger(__name__)

# A meeting takes from seconds (a short clip on a GPU) to hours (a long one on a CPU).
_JOB_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
_STAGE_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# Processing seconds per second of audio: below 1 keeps up with the meetings as they come.
_REALTIME_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)


class WorkerMetrics:
    """One registry per worker, so several workers (or tests) in a process do not collide."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.jobs_completed = Counter(
            "minuta_worker_jobs_completed",
            "Jobs finished with a result",
            registry=self.registry,
        )
        self.jobs_failed = Counter(
            "minuta_worker_jobs_failed",
            "Jobs that failed, by failure kind (bad_input, transient, internal)",
            ["failure"],
            registry=self.registry,
        )
        self.jobs_replayed = Counter(
            "minuta_worker_jobs_replayed",
            "Redelivered jobs answered from the local record instead of recomputed",
            registry=self.registry,
        )
        self.jobs_in_progress = Gauge(
            "minuta_worker_jobs_in_progress",
            "Jobs this worker holds right now",
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "minuta_worker_job_duration_seconds",
            "Wall time of a job, download to published outcome",
            ["outcome"],
            buckets=_JOB_BUCKETS,
            registry=self.registry,
        )
        self.stage_duration = Histogram(
            "minuta_worker_stage_duration_seconds",
            "Wall time of one pipeline stage",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.download_bytes = Counter(
            "minuta_worker_download_bytes",
            "Bytes of recordings downloaded",
            registry=self.registry,
        )
        self.realtime_factor = Histogram(
            "minuta_worker_realtime_factor",
            "Pipeline wall seconds per second of audio, per completed job",
            buckets=_REALTIME_BUCKETS,
            registry=self.registry,
        )


@dataclass
class HealthState:
    """What the endpoint reports; written by the worker's event loop, read by the server thread."""

    started: float
    last_beat: float
    ready: bool = False
    stale_after: float = 30.0
    broker_connected: Callable[[], bool] = lambda: True

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def report(self) -> tuple[bool, dict[str, Any]]:
        lag = time.monotonic() - self.last_beat
        broker = self.broker_connected()
        healthy = lag < self.stale_after and broker
        return healthy, {
            "status": "ok" if healthy else "unhealthy",
            "ready": self.ready,
            "event_loop_lag_seconds": round(lag, 3),
            "broker_connected": broker,
            "uptime_seconds": round(time.monotonic() - self.started, 1),
        }


def new_health_state(broker_connected: Callable[[], bool] | None = None) -> HealthState:
    now = time.monotonic()
    state = HealthState(started=now, last_beat=now)
    if broker_connected is not None:
        state.broker_connected = broker_connected
    return state


class HealthServer:
    def __init__(
        self, state: HealthState, metrics: WorkerMetrics, host: str = "0.0.0.0", port: int = 0
    ) -> None:
        self.state = state
        self.metrics = metrics
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="minuta-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        # The worker's own metrics, then the process-wide ones of the broker (dead letters).
        state, registries = self.state, (self.metrics.registry, messaging_metrics.REGISTRY)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    metrics = b"".join(generate_latest(r) for r in registries)
                    self._send(200, metrics, CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    healthy, body = state.report()
                    ok = healthy and (path == "/healthz" or state.ready)
                    self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("health: " + format, *args)

        return Handler
