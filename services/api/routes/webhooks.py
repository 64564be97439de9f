"""`/v1/webhooks`: a tenant's webhook endpoints and the log of their deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from services.api.db.models import Webhook, WebhookDelivery
from services.api.deps import ContextDep, SessionDep, TenantDep
from services.api.egress import refusal_response, refuse_unreachable
from services.api.lookups import webhook_of
from services.api.schemas import (
    ErrorOut,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryOut,
    WebhookEvent,
    WebhookOut,
)
from services.api.webhooks import new_secret

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
    404: {"model": ErrorOut, "description": "No such webhook for this tenant."},
}


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=hook.id,
        url=hook.url,
        events=[WebhookEvent(e) for e in hook.events],
        description=hook.description,
        created_at=hook.created_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register a webhook (the signing secret is shown only in this answer)",
    responses={401: _ERRORS[401], **refusal_response("The url")},
)
async def create_webhook(
    body: WebhookCreate, session: SessionDep, tenant: TenantDep, ctx: ContextDep
) -> WebhookCreated:
    await refuse_unreachable(ctx.egress, str(body.url), "the webhook url")
    hook = Webhook(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        url=str(body.url),
        secret=new_secret(),
        events=sorted({e.value for e in body.events}),
        description=body.description,
    )
    session.add(hook)
    await session.commit()
    return WebhookCreated(**_out(hook).model_dump(), secret=hook.secret)


@router.get("", summary="List webhooks", responses={401: _ERRORS[401]})
async def list_webhooks(session: SessionDep, tenant: TenantDep) -> list[WebhookOut]:
    hooks = await session.scalars(
        select(Webhook).where(Webhook.tenant_id == tenant.id).order_by(Webhook.created_at)
    )
    return [_out(h) for h in hooks]


@router.get("/{webhook_id}", summary="One webhook", responses=_ERRORS)
async def read_webhook(webhook_id: uuid.UUID, session: SessionDep, tenant: TenantDep) -> WebhookOut:
    return _out(await webhook_of(session, tenant.id, webhook_id))


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a webhook and its delivery log",
    responses=_ERRORS,
)
async def delete_webhook(webhook_id: uuid.UUID, session: SessionDep, tenant: TenantDep) -> None:
    hook = await webhook_of(session, tenant.id, webhook_id)
    await session.delete(hook)
    await session.commit()


@router.get(
    "/{webhook_id}/deliveries",
    summary="Delivery attempts, newest first",
    responses=_ERRORS,
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WebhookDeliveryOut]:
    await webhook_of(session, tenant.id, webhook_id)
    rows = await session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [
        WebhookDeliveryOut(
            id=r.id,
            delivery_id=r.delivery_id,
            event=WebhookEvent(r.event),
            meeting_id=r.meeting_id,
            attempt=r.attempt,
            url=r.url,
            status_code=r.status_code,
            success=r.success,
            error=r.error,
            duration_ms=r.duration_ms,
            created_at=r.created_at,
        )
        for r in rows
    ]
