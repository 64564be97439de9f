"""The API's section of the settings (core/settings.py), read from `MINUTA_*` variables or `.env`.

The broker (core.messaging.settings.BrokerSettings) and telemetry (core.settings.TelemetrySettings)
are sections of their own, shared with the workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from core.settings import Section
from services.egress import parse_cidrs

GIB = 1024**3
MIB = 1024**2


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "minuta"


class ApiSettings(Section):
    data_dir: Path = Field(default_factory=_default_data_dir)
    # postgresql+asyncpg://user@host/db or sqlite+aiosqlite:///path; unset: SQLite in data_dir.
    database_url: str | None = None
    # Apply Alembic migrations when the API starts (several processes may do so at once).
    migrate_on_startup: bool = True

    # Object storage. No bucket means a folder under data_dir.
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    # Where workers reach S3 when that differs from the API's endpoint (e.g. a public name).
    s3_presign_endpoint_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"
    s3_create_bucket: bool = True
    # S3 needs parts of at least 5 MiB (except the last); this is also the upload memory bound.
    s3_part_size_bytes: int = Field(default=8 * MIB, ge=5 * MIB)
    s3_key_prefix: str = ""

    max_upload_bytes: int = Field(default=2 * GIB, ge=1)
    # Parts of uploads cut off by a crash are removed at startup once this old (another API
    # process may still be receiving a younger one).
    stale_upload_seconds: float = Field(default=24 * 3600, ge=1)
    # A job carries a link signed for it alone (services/api/job_links.py), answered while its
    # meeting is queued or processing and for at most job_link_ttl_seconds; each fetch is
    # redirected to a presigned URL that lives presign_ttl_seconds (minutes, so a retry or a
    # second download attempt gets a fresh one).
    presign_ttl_seconds: int = Field(default=15 * 60, ge=60, le=7 * 24 * 3600)
    job_link_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # Base of the URLs the API hands out for the local folder storage (workers fetch from it);
    # unset: http://<host>:<port> of this process (loopback when bound to all interfaces).
    public_base_url: str | None = None
    # Key of the local signed URLs; unset: a random key kept in data_dir/signing.key.
    signing_secret: SecretStr | None = None

    # Egress (services/egress): address ranges the server may reach besides public ones, for an
    # on-premise install's intranet ("10.20.0.0/16, fd00:1::/64"); empty: public addresses only.
    # Webhooks, calendar ics_url and bots' meeting pages all go through this one policy.
    egress_allow_cidrs: str = ""

    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=5, ge=1, le=20)
    webhook_backoff_seconds: float = Field(default=2.0, ge=0)
    webhook_backoff_max_seconds: float = Field(default=300.0, ge=0)

    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=50, ge=1)
    outbox_retry_max_seconds: float = Field(default=30.0, gt=0)
    sse_poll_seconds: float = Field(default=1.0, gt=0)
    # How long a search waits for an ML worker's answer before it is a 503.
    search_timeout_seconds: float = Field(default=10.0, gt=0)
    # The speaker-embedder schema the workers embed voices with now. A person's voiceprints of
    # any other schema are stale: never compared, so GET /v1/persons says they are not
    # recognisable until named once in a meeting processed with this one.
    current_voiceprint_schema: str = Field(default="campplus-192-v1", min_length=1, max_length=64)
    # Name a bot-recorded meeting's speakers from the platform's display names when the speaking
    # timeline clearly matches the diarization (services/api/platform_naming.py).
    platform_naming: bool = True

    host: str = "127.0.0.1"
    port: int = 8000

    # Retention (services/api/retention.py): seconds between sweeps (0 = no sweeping in this
    # process), and meetings handled per transaction.
    retention_sweep_seconds: float = Field(default=3600.0, ge=0)
    retention_batch_size: int = Field(default=100, ge=1, le=10_000)

    # Security (services/api/security/): per-key rate limits ("N/second|minute|hour|day"; the
    # upload limit applies on top of the general one), where counters live (memory:// is one
    # process; redis://host:6379 is shared by every API process), and the browser origins allowed
    # to call the API cross-site (comma-separated; empty: none).
    # /metrics: with a token, only `Authorization: Bearer <token>` gets it (Prometheus sends it);
    # without one, only this machine, not through a proxy. Queue depths and meeting counts are
    # read at most once per metrics_cache_seconds, however often it is scraped.
    metrics_token: SecretStr | None = None
    metrics_cache_seconds: float = Field(default=15.0, ge=0)

    # Per-tenant quotas (services/api/quotas.py), past which the answer is 429 + Retry-After:
    # bots scheduled or running, event streams open in one API process, recording bytes
    # uploaded a day (0: no byte quota).
    quota_bots_pending: int = Field(default=50, ge=1)
    quota_event_streams: int = Field(default=20, ge=1)
    quota_upload_bytes_per_day: int = Field(default=50 * GIB, ge=0)

    rate_limit_enabled: bool = True
    rate_limit: str = "600/minute"
    rate_limit_uploads: str = "60/minute"
    rate_limit_auth_failures: str = "60/minute"
    rate_limit_storage_url: str = "memory://"
    # Reverse proxies (CIDRs) whose X-Forwarded-For is believed for the client's address; empty:
    # the socket's peer is the client (behind a proxy, every client would share its bucket).
    trusted_proxies: str = ""
    cors_origins: str = ""

    @model_validator(mode="after")
    def _s3_settings_complete(self) -> ApiSettings:
        if self.s3_bucket and bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise ValueError(
                "set both MINUTA_S3_ACCESS_KEY_ID and MINUTA_S3_SECRET_ACCESS_KEY, or neither "
                "(boto3 then uses its own credential chain)"
            )
        return self

    @field_validator("egress_allow_cidrs", "trusted_proxies")
    @classmethod
    def _cidrs_parse(cls, value: str) -> str:
        parse_cidrs(value)  # a typo fails at start, not at the first webhook
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'minuta.db'}"

    @property
    def resolved_public_base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def uses_s3(self) -> bool:
        return bool(self.s3_bucket)
