"""Idempotent uploads: a client that lost the answer to an upload sends it again with the same
`Idempotency-Key` and gets the meeting it already created, not a second one."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.db.models import Meeting

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_LENGTH = 200


async def find_by_key(session: AsyncSession, tenant_id: uuid.UUID, key: str) -> Meeting | None:
    found = await session.scalars(
        select(Meeting).where(Meeting.tenant_id == tenant_id, Meeting.idempotency_key == key)
    )
    return found.first()


async def concurrent_twin(
    session: AsyncSession, tenant_id: uuid.UUID, key: str | None, error: BaseException
) -> Meeting | None:
    """The meeting a concurrent upload with the same key committed first (our insert lost)."""
    if key is None or not isinstance(error, IntegrityError):
        return None
    twin = await find_by_key(session, tenant_id, key)
    await session.commit()
    return twin
