"""The base every settings section is built on, and the sections both sides share.

Each section reads its own `MINUTA_<FIELD>` variables (or `.env` keys); a field is declared in
exactly one section. The API/bot side and the ML side keep their own sections in their areas;
here are those both need: telemetry (logs and Sentry) and the cache folder. The broker's section
is core.messaging.settings.BrokerSettings. A process builds each section once
(entrypoints/settings.py) and passes it down.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# One configuration for every section: the same prefix, the same .env, unknown keys left to
# the sections that declare them.
SETTINGS_CONFIG = SettingsConfigDict(env_prefix="MINUTA_", env_file=".env", extra="ignore")

LogFormat = Literal["text", "json"]

# Set before a model library is imported: nothing may reach a model hub or send usage metrics.
OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PYANNOTE_METRICS_ENABLED": "0",
}


class Section(BaseSettings):
    """One area's settings: `MINUTA_<FIELD>` from the environment, else `.env`, else the default."""

    model_config = SETTINGS_CONFIG


class TelemetrySettings(Section):
    """Logs (core/telemetry/logging.py) and Sentry (core/telemetry/sentry.py), for every process."""

    # text for a person at a terminal; deployments (docker-compose.yml) set json.
    log_format: LogFormat = "text"
    # DEBUG, INFO, WARNING, ERROR.
    log_level: str = "INFO"

    sentry_dsn: str | None = None
    # Sentry's environment ("production", "staging") and release (default:
    # minuta@<installed version>).
    sentry_environment: str | None = None
    sentry_release: str | None = None
    # Workers only: the share of jobs traced.
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0, le=1)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "minuta"


class CacheSettings(Section):
    """Where models are assembled and embedded stores live (the ML side and the vector store)."""

    cache_dir: Path = Field(default_factory=_default_cache_dir)


def set_offline_env(*, force: bool = False) -> None:
    """Keep model libraries off the network (OFFLINE_ENV). By default a variable already set is
    left as it is; `force` overwrites it (right before an import that must not phone home)."""
    for name, value in OFFLINE_ENV.items():
        if force:
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)
