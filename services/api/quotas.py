"""Per-tenant quotas: bots waiting or running, open event streams, and recording bytes a day.
Past one the answer is 429 with `Retry-After` (rate limits, services/api/security, count
requests; these count what the requests hold on to)."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field

from fastapi import HTTPException, status
from limits import RateLimitItemPerDay
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError as LimitsStorageError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.db.models import Bot
from services.api.security.ratelimit import storage_for
from services.api.settings import ApiSettings
from services.bots.contracts import TERMINAL_STATES

BOT_RETRY_AFTER_SECONDS = 60
STREAM_RETRY_AFTER_SECONDS = 10


# For the OpenAPI `responses` of every route a quota guards.
QUOTA_RESPONSE: dict[int | str, dict[str, object]] = {
    429: {
        "description": "A quota of the tenant is used up; retry after `Retry-After` seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
}


def quota_exceeded(detail: str, retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"{detail} Retry in {retry_after} s.",
        headers={"Retry-After": str(max(1, retry_after))},
    )


async def pending_bots(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """The tenant's bots that are scheduled or running (not done, failed or cancelled)."""
    ended = [state.value for state in TERMINAL_STATES]
    count = await session.scalar(
        select(func.count())
        .select_from(Bot)
        .where(Bot.tenant_id == tenant_id, Bot.state.not_in(ended))
    )
    return int(count or 0)


@dataclass
class StreamSlot:
    """One open event stream of a tenant; `release` may be called more than once."""

    quotas: Quotas
    tenant_id: uuid.UUID
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.quotas._close_stream(self.tenant_id)


@dataclass
class Quotas:
    settings: ApiSettings
    # Open streams per tenant in this process (each API process counts its own).
    _streams: dict[uuid.UUID, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Byte counters live where the rate limits do (memory, or Redis for every process).
        self._limiter = FixedWindowRateLimiter(storage_for(self.settings.rate_limit_storage_url))
        self._bytes = RateLimitItemPerDay(max(1, self.settings.quota_upload_bytes_per_day))

    async def bot_room(self, session: AsyncSession, tenant_id: uuid.UUID) -> int:
        """How many more bots the tenant may have; 429 when none."""
        room = self.settings.quota_bots_pending - await pending_bots(session, tenant_id)
        if room <= 0:
            raise quota_exceeded(
                f"This tenant has {self.settings.quota_bots_pending} bots scheduled or running, "
                "its quota (MINUTA_QUOTA_BOTS_PENDING).",
                BOT_RETRY_AFTER_SECONDS,
            )
        return room

    def open_stream(self, tenant_id: uuid.UUID) -> StreamSlot:
        open_now = self._streams.get(tenant_id, 0)
        if open_now >= self.settings.quota_event_streams:
            raise quota_exceeded(
                f"This tenant has {open_now} event streams open, its quota "
                "(MINUTA_QUOTA_EVENT_STREAMS).",
                STREAM_RETRY_AFTER_SECONDS,
            )
        self._streams[tenant_id] = open_now + 1
        return StreamSlot(self, tenant_id)

    def _close_stream(self, tenant_id: uuid.UUID) -> None:
        left = self._streams.get(tenant_id, 1) - 1
        if left > 0:
            self._streams[tenant_id] = left
        else:
            self._streams.pop(tenant_id, None)

    async def upload_room(self, tenant_id: uuid.UUID) -> int:
        """Recording bytes the tenant may still upload today; 429 when none."""
        if self.settings.quota_upload_bytes_per_day <= 0:
            return self.settings.max_upload_bytes
        try:
            stats = await self._limiter.get_window_stats(self._bytes, "bytes", str(tenant_id))
        except LimitsStorageError:
            return self.settings.max_upload_bytes  # an outage of the store is not one of ours
        if stats.remaining <= 0:
            raise quota_exceeded(
                "This tenant uploaded its daily quota of recording bytes "
                "(MINUTA_QUOTA_UPLOAD_BYTES_PER_DAY).",
                math.ceil(stats.reset_time - time.time()),
            )
        return int(stats.remaining)

    async def upload_refused(self, tenant_id: uuid.UUID, room: int) -> HTTPException:
        """The 429 for a recording larger than what is left of the day's bytes."""
        try:
            stats = await self._limiter.get_window_stats(self._bytes, "bytes", str(tenant_id))
            retry_after = math.ceil(stats.reset_time - time.time())
        except LimitsStorageError:
            retry_after = 3600
        return quota_exceeded(
            f"The recording is larger than the {room} bytes left of this tenant's daily upload "
            "quota (MINUTA_QUOTA_UPLOAD_BYTES_PER_DAY).",
            retry_after,
        )

    async def record_upload(self, tenant_id: uuid.UUID, size: int) -> None:
        if self.settings.quota_upload_bytes_per_day <= 0 or size <= 0:
            return
        try:
            # A hit larger than what is left still counts: the next upload is refused.
            if not await self._limiter.hit(self._bytes, "bytes", str(tenant_id), cost=size):
                stats = await self._limiter.get_window_stats(self._bytes, "bytes", str(tenant_id))
                if stats.remaining > 0:
                    await self._limiter.hit(
                        self._bytes, "bytes", str(tenant_id), cost=stats.remaining
                    )
        except LimitsStorageError:
            return
