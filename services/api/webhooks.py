"""Webhook deliveries: signed POSTs, retried with backoff, every attempt logged.

Signature, header `Minuta-Signature`:
    t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
A receiver recomputes it over the raw body and rejects old timestamps (replays).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.api.db.models import Webhook, WebhookDelivery, utcnow
from services.api.metrics import record_webhook_delivery
from services.api.schemas import WebhookEvent
from services.api.settings import ApiSettings
from services.egress import EgressPolicy, EgressRefused
from services.egress.transport import pinned_client

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Minuta-Signature"
EVENT_HEADER = "Minuta-Event"
DELIVERY_HEADER = "Minuta-Delivery"
DEFAULT_TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: the HMAC matches and the timestamp is recent."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class DeliveryError(StrEnum):
    """What the delivery log says went wrong: codes, never the network's own words (those
    would tell a tenant which internal ports answer, and how)."""

    http_status = "http_status"  # the receiver answered, not 2xx (status_code has the code)
    egress_refused = "egress_refused"  # the URL now leads to an address the policy refuses
    timeout = "timeout"
    connect_failed = "connect_failed"
    transport_error = "transport_error"


def delivery_error(exc: httpx.HTTPError) -> DeliveryError:
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError.timeout
    if isinstance(exc, httpx.ConnectError):
        return DeliveryError.connect_failed
    return DeliveryError.transport_error


@dataclass(frozen=True)
class _Target:
    webhook_id: uuid.UUID
    url: str
    secret: str


class _AttemptFailed(Exception):
    pass


class _WebhookGone(Exception):
    pass


class WebhookDispatcher:
    """Runs deliveries as background tasks of the API process."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: ApiSettings,
        client: httpx.AsyncClient | None = None,
        *,
        egress: EgressPolicy | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._settings = settings
        # Checked again at every attempt, connecting to the checked address (no rebinding).
        self._client = client or pinned_client(
            egress or EgressPolicy.from_setting(settings.egress_allow_cidrs),
            timeout=settings.webhook_timeout_seconds,
        )
        self._owns_client = client is None
        self._tasks: set[asyncio.Task[Any]] = set()

    def fire(self, tenant_id: uuid.UUID, event: WebhookEvent, data: dict[str, Any]) -> None:
        """Deliver `event` to the tenant's subscribed webhooks, in the background."""
        task = asyncio.create_task(self.dispatch(tenant_id, event, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def dispatch(
        self, tenant_id: uuid.UUID, event: WebhookEvent, data: dict[str, Any]
    ) -> list[bool]:
        async with self._sessionmaker() as session:
            hooks = list(
                await session.scalars(select(Webhook).where(Webhook.tenant_id == tenant_id))
            )
        targets = [
            _Target(hook.id, hook.url, hook.secret) for hook in hooks if event.value in hook.events
        ]
        return list(await asyncio.gather(*(self.deliver(t, event, data) for t in targets)))

    async def deliver(self, target: _Target, event: WebhookEvent, data: dict[str, Any]) -> bool:
        delivery_id = uuid.uuid4()
        body = json.dumps(
            {
                "id": str(delivery_id),
                "type": event.value,
                "created_at": utcnow().isoformat(),
                "data": data,
            },
            default=_json_default,
            separators=(",", ":"),
        ).encode()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.webhook_max_attempts),
            wait=wait_exponential(
                multiplier=self._settings.webhook_backoff_seconds,
                max=self._settings.webhook_backoff_max_seconds,
            ),
            retry=retry_if_exception_type(_AttemptFailed),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    await self._attempt(target, event, data, delivery_id, number, body)
        except _AttemptFailed:
            record_webhook_delivery("failed")
            log.warning("webhook %s: %s not delivered", target.webhook_id, event.value)
            return False
        except _WebhookGone:
            return False
        return True

    async def _attempt(
        self,
        target: _Target,
        event: WebhookEvent,
        data: dict[str, Any],
        delivery_id: uuid.UUID,
        number: int,
        body: bytes,
    ) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "minuta-webhooks/1",
            EVENT_HEADER: event.value,
            DELIVERY_HEADER: str(delivery_id),
            # Signed per attempt: a late retry still carries a fresh timestamp.
            SIGNATURE_HEADER: sign(target.secret, int(time.time()), body),
        }
        started = time.perf_counter()
        status: int | None = None
        error: DeliveryError | None = None
        try:
            response = await self._client.post(target.url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = DeliveryError.http_status
        except EgressRefused:
            error = DeliveryError.egress_refused
        except httpx.HTTPError as exc:
            error = delivery_error(exc)
        meeting_id = data.get("meeting", {}).get("id")
        record = WebhookDelivery(
            webhook_id=target.webhook_id,
            delivery_id=delivery_id,
            event=event.value,
            meeting_id=uuid.UUID(str(meeting_id)) if meeting_id else None,
            attempt=number,
            url=target.url,
            status_code=status,
            success=error is None,
            error=error.value if error else None,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        try:
            async with self._sessionmaker() as session, session.begin():
                session.add(record)
        except IntegrityError as exc:
            raise _WebhookGone from exc  # deleted while we were retrying
        if error is None:
            record_webhook_delivery("delivered")
            return
        if number < self._settings.webhook_max_attempts:
            record_webhook_delivery("retry")  # the last failed attempt counts as "failed"
        raise _AttemptFailed(error)

    async def drain(self) -> None:
        """Wait for the deliveries in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self.drain(), timeout)
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._owns_client:
            await self._client.aclose()


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
