"""Hardening of the API app: rate limits, CORS, security headers (installed by create_app)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.api.security.cors import install_cors
from services.api.security.headers import HeaderPolicy, SecurityHeadersMiddleware
from services.api.security.ratelimit import (
    RateLimitMiddleware,
    RateLimits,
    is_exempt,
    storage_for,
)
from services.api.settings import ApiSettings
from services.egress import parse_cidrs

__all__ = ["install_security"]


def install_security(app: FastAPI, settings: ApiSettings) -> None:
    """Outermost first: headers on every answer (429s and CORS refusals too), then CORS
    (preflights are answered before they count), then the rate limits."""
    if settings.rate_limit_enabled:
        app.add_middleware(
            RateLimitMiddleware,
            limits=RateLimits.from_settings(settings),
            storage=storage_for(settings.rate_limit_storage_url),
            proxies=parse_cidrs(settings.trusted_proxies),
        )
        _document_429(app)
    install_cors(app, settings)
    app.add_middleware(SecurityHeadersMiddleware, policy=HeaderPolicy.from_settings(settings))


_TOO_MANY: dict[str, Any] = {
    "description": "Rate limit exceeded; retry after `Retry-After` seconds.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def _document_429(app: FastAPI) -> None:
    """Every limited operation lists its 429 in the OpenAPI document (clients and fuzzers
    read it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        if "ErrorOut" not in schema.get("components", {}).get("schemas", {}):
            return schema
        for path, operations in schema.get("paths", {}).items():
            if is_exempt(path):
                continue
            for operation in operations.values():
                operation.setdefault("responses", {}).setdefault("429", _TOO_MANY)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
