"""Sentry for every service: errors tagged with the job and tenant, never a recording's content.

What could carry a meeting out of the system is kept out at the source: the SDK's
`data_collection` (sentry-sdk 3) collects no stack-frame variables, bodies, cookies, query strings,
user details, database or queue payloads. Then everything is scrubbed again before it is sent
(events, spans, breadcrumbs, logs): values under keys that hold transcript or minutes content are
replaced, presigned URLs lose their query strings (the signature is a credential), and pydantic's
echo of rejected input is cut.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint, Log

if TYPE_CHECKING:
    from sentry_sdk._types import DataCollectionUserOptions, SpanJSON

REDACTED = "[redacted]"

# Keys whose values are (or contain) what was said in a meeting, or the link to the recording.
SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        "text",
        "transcript",
        "segments",
        "words",
        "word",
        "lines",
        "summary",
        "minutes",
        "topics",
        "decisions",
        "action_items",
        "result",
        "audio_url",
        "presigned_url",
        "prompt",
        "messages",
        "completion",
    }
)

_URL_QUERY = re.compile(r"(?P<base>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>]+)\?[^\s'\"<>]*")
_AWS_SIGNATURE = re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s'\"]+", re.I)
_PYDANTIC_INPUT = re.compile(r"input_value=.*?(?=, input_type=|\]$|$)", re.M)
_MAX_DEPTH = 20

# Everything the SDK would gather by itself that could hold a meeting, a credential or a person.
DATA_COLLECTION: DataCollectionUserOptions = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "url_query_params": {"mode": "off"},
    "http_bodies": [],
    "gen_ai": {"inputs": False, "outputs": False},
    "mcp": {"inputs": False, "outputs": False},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": False,
}


def scrub_text(value: str) -> str:
    value = _URL_QUERY.sub(lambda m: f"{m.group('base')}?{REDACTED}", value)
    value = _AWS_SIGNATURE.sub(lambda m: f"{m.group(1)}{REDACTED}", value)
    return _PYDANTIC_INPUT.sub(f"input_value={REDACTED}", value)


def scrub(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with sensitive keys replaced and every string cleaned."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and key.lower() in SENSITIVE_KEYS
            else scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item, depth + 1) for item in value]
    return value


def before_send(event: Event, hint: Hint) -> Event | None:
    return cast(Event, scrub(event))


def before_breadcrumb(crumb: Breadcrumb, hint: BreadcrumbHint) -> Breadcrumb | None:
    return cast(Breadcrumb, scrub(crumb))


def before_send_log(log: Log, hint: Hint) -> Log | None:
    return cast(Log, scrub(log))


def before_send_span(span: SpanJSON, hint: Hint) -> SpanJSON | None:
    return cast("SpanJSON", scrub(span))


def init_sentry(
    service_name: str,
    dsn: str | None,
    *,
    environment: str | None = None,
    release: str | None = None,
    traces_sample_rate: float = 0.0,
    enable_logs: bool = False,
    debug: bool = False,
) -> bool:
    """Start the SDK for `service_name` ("api", "ml-controller"); without a DSN, do nothing.

    True when events will be sent."""
    if not dsn:
        return False
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or _release(),
        server_name=None,
        data_collection=DATA_COLLECTION,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        # sentry-sdk 3 ships every INFO log and makes no events of error logs unless told.
        integrations=[
            LoggingIntegration(
                level=logging.INFO if enable_logs else None, event_level=logging.ERROR
            )
        ],
        before_send=before_send,
        before_send_span=before_send_span,
        before_breadcrumb=before_breadcrumb,
        before_send_log=before_send_log,
        debug=debug,
    )
    sentry_sdk.get_global_scope().set_tag("service", service_name)
    return True


def _release() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"minuta@{version('minuta')}"
    except PackageNotFoundError:
        return None


def tag_job(
    job_id: UUID | str, tenant_id: UUID | str, meeting_id: UUID | str | None = None
) -> None:
    """Tag what the current scope reports with the job and its tenant."""
    scope = sentry_sdk.get_isolation_scope()
    scope.set_tag("job_id", str(job_id))
    scope.set_tag("tenant", str(tenant_id))
    if meeting_id is not None:
        scope.set_tag("meeting_id", str(meeting_id))


@contextmanager
def job_scope(
    job_id: UUID | str, tenant_id: UUID | str, meeting_id: UUID | str | None = None
) -> Iterator[None]:
    """Tags for one job only: concurrent jobs (asyncio tasks, threads) do not see each other's."""
    with sentry_sdk.isolation_scope():
        tag_job(job_id, tenant_id, meeting_id)
        yield
