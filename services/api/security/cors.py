"""Cross-origin calls from browsers: none unless MINUTA_CORS_ORIGINS names the origins."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services.api.settings import ApiSettings

ALLOWED_METHODS = ["GET", "POST", "PATCH", "DELETE"]
ALLOWED_HEADERS = ["Authorization", "X-API-Key", "Content-Type"]
EXPOSED_HEADERS = [
    "Content-Disposition",
    "Retry-After",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
]


def cors_origins(settings: ApiSettings) -> list[str]:
    return [o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip()]


def install_cors(app: FastAPI, settings: ApiSettings) -> None:
    # Keys travel in headers, never cookies: no credentials mode, so "*" is safe if asked for.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins(settings),
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=600,
    )
