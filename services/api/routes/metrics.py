"""`GET /metrics` for Prometheus: unauthenticated like /healthz, and not in the OpenAPI schema.

It shows counts and timings, never a tenant's data; keep it off the public internet (the
reverse proxy or a network policy), as with any Prometheus endpoint. A process that runs more
than the API (`minuta serve`) adds its other registries to `app.state.metrics_registries`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.deps import ContextDep
from services.api.metrics import render

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request, ctx: ContextDep) -> Response:
    body = await render(ctx.broker, ctx.sessionmaker)
    for registry in getattr(request.app.state, "metrics_registries", []):
        body += generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
