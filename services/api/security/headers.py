"""Security headers on every response (a pure ASGI middleware, so streams stay streams).

The Content-Security-Policy is the web UI's: its own ES modules and stylesheet only, API calls to
its own origin, and the recording player fed from wherever presigned URLs point (the S3 endpoint
or this API's public URL). The interactive API docs load Swagger UI / ReDoc from a CDN with an
inline bootstrap script, so they get a policy of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.settings import ApiSettings

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
# Responses here are per-tenant data or signed downloads: no shared or browser cache keeps them.
NO_STORE_PREFIXES = ("/v1/", "/internal/")
_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'none'; script-src 'unsafe-inline' {_CDN}; "
    f"style-src 'unsafe-inline' {_CDN} https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; connect-src 'self'; worker-src blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def media_sources(settings: ApiSettings) -> list[str]:
    """Where the recording player may load audio from: the origins presigned URLs point at."""
    if not settings.uses_s3:
        return [_origin(settings.resolved_public_base_url)]
    endpoint = settings.s3_presign_endpoint_url or settings.s3_endpoint_url
    if endpoint is None:
        return ["https://*.amazonaws.com"]  # AWS itself: bucket and region in the host name
    sources = [_origin(endpoint)]
    if settings.s3_addressing_style != "path":  # the bucket becomes a subdomain
        parts = urlsplit(endpoint)
        sources.append(f"{parts.scheme}://*.{parts.netloc}")
    return sources


def content_security_policy(settings: ApiSettings) -> str:
    media = " ".join(["'self'", *dict.fromkeys(media_sources(settings))])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        # The UI sets computed colours and positions as style attributes (not scripts).
        "style-src-attr 'unsafe-inline'; "
        f"img-src 'self' data:; media-src {media}; connect-src 'self'; manifest-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class HeaderPolicy:
    csp: str
    docs_csp: str = DOCS_CSP

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> HeaderPolicy:
        return cls(csp=content_security_policy(settings))


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, policy: HeaderPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if "content-security-policy" not in headers:
                    docs = path in DOCS_PATHS
                    headers["Content-Security-Policy"] = (
                        self.policy.docs_csp if docs else self.policy.csp
                    )
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                json = headers.get("content-type", "").startswith("application/json")
                if "cache-control" not in headers and (json or path.startswith(NO_STORE_PREFIXES)):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
