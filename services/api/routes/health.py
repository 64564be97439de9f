"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from services.api.deps import ContextDep
from services.api.schemas import HealthOut, ReadinessOut
from services.api.storage.base import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> HealthOut:
    return HealthOut()


@router.get(
    "/readyz",
    summary="The database and the recording store answer",
    responses={503: {"model": ReadinessOut, "description": "A dependency is not reachable."}},
)
async def readyz(ctx: ContextDep, response: Response) -> ReadinessOut:
    checks: dict[str, str] = {}
    try:
        async with ctx.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await ctx.storage.check()
        checks["storage"] = "ok"
    except StorageError as exc:
        checks["storage"] = f"unreachable: {exc}"
    ready = all(v == "ok" for v in checks.values())
    # Informational only: with the broker down uploads still succeed (the outbox keeps them).
    if ctx.relay.broker_ok is not None:
        checks["broker"] = "ok" if ctx.relay.broker_ok else f"unreachable: {ctx.relay.last_error}"
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadinessOut(status="ready" if ready else "not ready", checks=checks)
