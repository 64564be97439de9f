"""`/v1/tenant/retention`: the calling tenant's retention policy (read and replace)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.api.deps import SessionDep, TenantDep
from services.api.retention import policy_of, set_policy
from services.api.schemas import ErrorOut, RetentionPolicy

router = APIRouter(prefix="/v1/tenant", tags=["tenant"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
}


@router.get("/retention", summary="This tenant's retention policy", responses=_ERRORS)
async def read_retention(tenant: TenantDep) -> RetentionPolicy:
    return policy_of(tenant)


@router.put(
    "/retention",
    summary="Set this tenant's retention policy (days: null keeps meetings forever)",
    responses=_ERRORS,
)
async def replace_retention(
    policy: RetentionPolicy, session: SessionDep, tenant: TenantDep
) -> RetentionPolicy:
    """Applied by the next retention sweep (hourly by default), to meetings already stored too:
    meetings older than `days` lose their recording, or everything with scope 'everything'."""
    await set_policy(session, tenant.id, policy)
    await session.commit()
    return policy
