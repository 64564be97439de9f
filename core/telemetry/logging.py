"""Structured logs for every service: JSON lines (or text at a terminal) tagged with the job.

`configure_logging("api", "json")` sends every log line (uvicorn's too, when it is started with
`log_config=None`) through one handler on stderr. A line carries the job, tenant and meeting of
the code that wrote it: `with log_context(job_id=..., tenant_id=...)` sets them in contextvars,
so they follow the asyncio task and the threads started with a copied context (the worker's
`run_in_thread`), and concurrent jobs never see each other's.

Whatever a line says, it is scrubbed as it is written (the last line of defence, not the first):
presigned-URL query strings and signatures, API keys and bearer tokens, and pydantic's echo of
rejected input (which can be a transcript) are cut. Transcript text is never logged on purpose.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from uuid import UUID

from core.settings import LogFormat, TelemetrySettings
from core.telemetry.sentry import REDACTED, scrub_text

CONTEXT_FIELDS = ("job_id", "tenant_id", "meeting_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_CONTEXT: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"minuta_log_{name}", default=None) for name in CONTEXT_FIELDS
}

# What scrub_text (made for full URLs) misses in log lines: an access log prints only the path,
# so a signed query parameter stands alone; keys travel in headers some libraries echo.
_SIGNED_PARAM = re.compile(
    r"(?P<name>(?:^|(?<=[?&;\s]))(?:sig|signature|x-amz-signature|x-amz-credential|"
    r"x-amz-security-token|token|access_token|api_key|apikey)=)[^&\s'\"]+",
    re.I,
)
_API_KEY = re.compile(r"\bmk_[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?P<scheme>\bBearer\s+)[^\s'\",]+", re.I)


def redact(text: str) -> str:
    """`text` without URL signatures, API keys, bearer tokens or echoed input values."""
    text = scrub_text(text)
    text = _SIGNED_PARAM.sub(lambda m: f"{m.group('name')}{REDACTED}", text)
    text = _API_KEY.sub(f"mk_{REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group('scheme')}{REDACTED}", text)


@contextmanager
def log_context(
    *,
    job_id: UUID | str | None = None,
    tenant_id: UUID | str | None = None,
    meeting_id: UUID | str | None = None,
) -> Iterator[None]:
    """Tag every line logged inside the block (this task, and threads given a copy of its
    context) with the ids given; the previous values come back on exit."""
    given = {"job_id": job_id, "tenant_id": tenant_id, "meeting_id": meeting_id}
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    for name, value in given.items():
        if value is not None:
            var = _CONTEXT[name]
            tokens.append((var, var.set(str(value))))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_context() -> dict[str, str]:
    """The ids set by the enclosing `log_context` blocks."""
    found = {name: var.get() for name, var in _CONTEXT.items()}
    return {name: value for name, value in found.items() if value is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, service, ids, exc."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "service": self.service,
            **current_context(),
        }
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the job's ids appended when there are any."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = current_context()
        if context:
            first, newline, rest = line.partition("\n")
            tags = " ".join(f"{name}={value}" for name, value in context.items())
            line = f"{first} [{tags}]{newline}{rest}"
        return redact(line)


def configure_logging(
    service: str,
    fmt: LogFormat | None = None,
    level: str | int | None = None,
    settings: TelemetrySettings | None = None,
) -> logging.Handler:
    """One stderr handler on the root logger for `service` ("api", "worker", "serve");
    unset arguments come from MINUTA_LOG_FORMAT / MINUTA_LOG_LEVEL (`settings`, the process's
    telemetry section; read here when not given). Replaces earlier handlers (a second call
    reconfigures). Returns the handler."""
    settings = settings or TelemetrySettings()
    fmt = fmt or settings.log_format
    level = level if level is not None else settings.log_level
    if isinstance(level, str):
        level = level.upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that log request bodies or URLs at DEBUG stay at INFO even when we debug.
    for noisy in ("httpx", "httpcore", "botocore", "urllib3", "aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    return handler
