"""The worker's section of the settings (core/settings.py), read from `MINUTA_*` variables or
`.env`. Sentry and logs are in the telemetry section, the broker in its own."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from core.settings import Section


def _default_state_dir() -> Path:
    return Path.home() / ".cache" / "minuta" / "worker"


class WorkerSettings(Section):
    # /healthz, /readyz and /metrics; port 0 picks a free one (it is logged).
    worker_health_enabled: bool = True
    worker_health_host: str = "0.0.0.0"
    worker_health_port: int = Field(default=9108, ge=0, le=65535)
    # Jobs in hand at once (the broker prefetch). The pipeline itself runs one job at a time per
    # process (its models are not thread-safe); more than 1 overlaps downloads with processing.
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    # Downloads and decoded audio go here; unset means the system temp folder.
    worker_temp_dir: Path | None = None
    # Outcomes of recent jobs, so a redelivered finished job is answered, not recomputed.
    worker_state_dir: Path = Field(default_factory=_default_state_dir)
    worker_state_keep: int = Field(default=200, ge=1)
    # Load the models before taking the first job (a broken install fails at start, not per job).
    worker_preload_models: bool = True
    # SIGTERM: stop taking jobs, give the current one this long, then put it back in the queue.
    # Keep it below the orchestrator's grace period (Kubernetes terminationGracePeriodSeconds).
    worker_drain_timeout_seconds: float = Field(default=300.0, ge=0)
    # Name speakers by voice, index meetings for search, answer search calls and apply vector
    # commands, with the vector store of VectorSettings (MINUTA_QDRANT_*).
    worker_vectors: bool = True
    # Progress events within one stage at most this often (a new stage is always sent).
    worker_progress_interval_seconds: float = Field(default=1.0, ge=0)

    download_max_bytes: int = Field(default=4 * 1024**3, ge=1)
    download_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    # Longest wait for the next bytes, not for the whole file.
    download_read_timeout_seconds: float = Field(default=60.0, gt=0)
    download_attempts: int = Field(default=3, ge=1)
    download_backoff_seconds: float = Field(default=1.0, ge=0)
    # Fault tests only: SIGKILL this worker when a job reaches this point (see failpoints.py).
    worker_failpoint: str | None = None

    @field_validator("worker_failpoint")
    @classmethod
    def _known_failpoint(cls, value: str | None) -> str | None:
        from ml_controller.worker.failpoints import check_point

        return check_point(value or None)
