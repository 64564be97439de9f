"""Typed FastAPI dependencies: context, session, the calling tenant, storage, broker, meeting."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from core.messaging.base import Broker
from services.api.context import ApiContext
from services.api.db.models import Meeting, Tenant
from services.api.lookups import meeting_of
from services.api.quotas import StreamSlot
from services.api.storage.base import Storage
from services.api.tenants import authenticate

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer mk_…`")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: `mk_…`")

# Kept under its old name for the modules that import it from here.


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.ctx
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


async def get_session(ctx: ContextDep) -> AsyncIterator[AsyncSession]:
    async with ctx.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def current_tenant(
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> Tenant:
    secret = bearer.credentials if bearer is not None else api_key
    if not secret:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    tenant = await authenticate(session, secret)
    # End the read transaction now: a long upload must not hold it (SQLite: the write lock).
    await session.commit()
    if tenant is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "This API key is not valid or has been revoked.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]


def get_storage(ctx: ContextDep) -> Storage:
    return ctx.storage


def get_broker(ctx: ContextDep) -> Broker:
    return ctx.broker


StorageDep = Annotated[Storage, Depends(get_storage)]
BrokerDep = Annotated[Broker, Depends(get_broker)]


async def owned_meeting(meeting_id: uuid.UUID, session: SessionDep, tenant: TenantDep) -> Meeting:
    """The caller's meeting, as a snapshot (writers lock it again themselves).

    Another tenant's meeting is a 404 exactly like a missing one."""
    meeting = await meeting_of(session, tenant.id, meeting_id)
    await session.commit()  # read-only: hold no transaction while the response is produced
    return meeting


MeetingDep = Annotated[Meeting, Depends(owned_meeting)]


def stream_slot(ctx: ContextDep, tenant: TenantDep) -> StreamSlot:
    """One of the tenant's open event streams (429 past its quota); the stream releases it."""
    return ctx.quotas.open_stream(tenant.id)


StreamSlotDep = Annotated[StreamSlot, Depends(stream_slot)]
