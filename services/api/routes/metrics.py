"""`GET /metrics` for Prometheus, not in the OpenAPI schema.

Closed by default: with `MINUTA_METRICS_TOKEN` set, only `Authorization: Bearer <token>` gets it
(docker-compose.yml gives Prometheus the token); without a token, only a client on this machine
that did not come through a proxy (no forwarding header). Queue depths and meeting counts are
cached (`MINUTA_METRICS_CACHE_SECONDS`). A process that runs more than the API (`minuta serve`)
adds its other registries to `app.state.metrics_registries`.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.deps import ContextDep
from services.api.metrics import render

router = APIRouter(include_in_schema=False)

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def _check_access(request: Request, token: str | None) -> None:
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "/metrics needs the metrics token (Authorization: Bearer ...).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return
    host = request.client.host if request.client else ""
    try:
        local = ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local or any(name in request.headers for name in _FORWARDING_HEADERS):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "/metrics answers only this machine unless MINUTA_METRICS_TOKEN is set.",
        )


@router.get("/metrics")
async def metrics(request: Request, ctx: ContextDep) -> Response:
    token = ctx.settings.metrics_token
    _check_access(request, token.get_secret_value() if token else None)
    body = await render(ctx.broker, ctx.sessionmaker, request.app.state.metrics_cache)
    for registry in getattr(request.app.state, "metrics_registries", []):
        body += generate_latest(registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
