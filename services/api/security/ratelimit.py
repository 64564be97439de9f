"""Per-caller rate limits (the `limits` library, moving windows) as a pure ASGI middleware.

Who a caller is, without a database lookup: the SHA-256 of the API key it presents (never the
key itself), the SHA-256 of a bot's token on the bot callbacks, else the client address (through
trusted proxies only, security/client_address.py). A made-up key would get a fresh bucket, so
answers of 401/403 also count against the *address*. An address past that limit still has its
credentials checked, so a valid key is never locked out by someone else's failures; every
invalid one is answered 429 instead of 401/403 (nothing to learn), and counts again.

Counters live in memory (one process) or in Redis (shared by every API process). If the store is
unreachable the request goes through (logged): an outage of the limiter must not be one of the API.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError
from limits.errors import StorageError as LimitsStorageError
from limits.storage import storage_from_string
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.security.client_address import client_address
from services.api.settings import ApiSettings
from services.api.tenants import hash_key
from services.bots.contracts import BOT_AUTH_SCHEME
from services.egress import IPNetwork

log = logging.getLogger(__name__)

# Probes, metrics and the web UI's own files are never limited.
EXEMPT_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics"})
EXEMPT_PREFIXES = ("/app/", "/app")
# Requests that store a recording: the upload limit applies on top of the general one.
_UPLOADS = (
    ("POST", re.compile(r"^/v1/meetings/?$")),
    ("POST", re.compile(r"^/v1/bots/[^/]+/recording/?$")),
)
_STORE_ERROR_LOG_EVERY = 60.0


def is_exempt(path: str) -> bool:
    return path in EXEMPT_PATHS or path.startswith(EXEMPT_PREFIXES)


def is_upload(method: str, path: str) -> bool:
    return any(method == m and pattern.match(path) for m, pattern in _UPLOADS)


@dataclass(frozen=True)
class RateLimits:
    general: RateLimitItem
    uploads: RateLimitItem
    auth_failures: RateLimitItem

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> RateLimits:
        def item(name: str, value: str) -> RateLimitItem:
            try:
                return parse(value)
            except ValueError as exc:
                raise ValueError(
                    f"MINUTA_{name.upper()}={value!r} is not a rate limit; "
                    "write e.g. '600/minute', '10/second' or '1000 per hour'"
                ) from exc

        return cls(
            general=item("rate_limit", settings.rate_limit),
            uploads=item("rate_limit_uploads", settings.rate_limit_uploads),
            auth_failures=item("rate_limit_auth_failures", settings.rate_limit_auth_failures),
        )


@dataclass(frozen=True)
class Caller:
    """Whom a request is counted against; `ident` is a hash or an address, never a secret."""

    kind: Literal["key", "bot", "address"]
    ident: str
    address: str

    @property
    def credentialed(self) -> bool:
        return self.kind != "address"

    def describe(self) -> str:
        return {"key": "this API key", "bot": "this bot", "address": "this address"}[self.kind]


def identify(scope: Scope, proxies: tuple[IPNetwork, ...] = ()) -> Caller:
    headers = Headers(scope=scope)
    address = client_address(scope, proxies)
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() == "bearer" and credential:
        return Caller("key", hash_key(credential), address)
    if scheme.lower() == BOT_AUTH_SCHEME.lower() and credential:
        return Caller("bot", hash_key(credential), address)
    api_key = headers.get("x-api-key", "").strip()
    if api_key:
        return Caller("key", hash_key(api_key), address)
    return Caller("address", address, address)


def storage_for(url: str) -> Storage:
    """`memory://`, `redis://host:port[/db]` (or `async+…` spelled out) as an async store."""
    spelled = url if url.startswith("async+") else f"async+{url}"
    try:
        storage = storage_from_string(spelled, wrap_exceptions=True)
    except ConfigurationError as exc:
        raise ValueError(f"MINUTA_RATE_LIMIT_STORAGE_URL={url!r} cannot be used: {exc}") from exc
    assert isinstance(storage, Storage)
    return storage


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        limits: RateLimits,
        storage: Storage,
        proxies: tuple[IPNetwork, ...] = (),
    ) -> None:
        self.app = app
        self.limits = limits
        self.proxies = proxies
        self.limiter = MovingWindowRateLimiter(storage)
        self._last_store_error = -math.inf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        caller = identify(scope, self.proxies)
        refusal = await self._check(scope, caller)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if not caller.credentialed:
            await self.app(scope, receive, send)
            return
        flooded = not await self._guarded(
            self.limiter.test(self.limits.auth_failures, "auth", caller.address)
        )
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            if flooded and status and status[0] in (401, 403):
                return  # replaced by the 429 below
            await send(message)

        await self.app(scope, receive, watch)
        if status and status[0] in (401, 403):
            await self._guarded(self.limiter.hit(self.limits.auth_failures, "auth", caller.address))
            if flooded:
                refused = await self._refuse(
                    self.limits.auth_failures,
                    ("auth", caller.address),
                    "Too many requests with invalid credentials from this address",
                )
                await refused(scope, receive, send)

    async def _check(self, scope: Scope, caller: Caller) -> JSONResponse | None:
        if not await self._guarded(
            self.limiter.hit(self.limits.general, caller.kind, caller.ident)
        ):
            return await self._refuse(
                self.limits.general,
                (caller.kind, caller.ident),
                f"Too many requests for {caller.describe()}",
            )
        if is_upload(scope["method"], scope["path"]) and not await self._guarded(
            self.limiter.hit(self.limits.uploads, "upload", caller.kind, caller.ident)
        ):
            return await self._refuse(
                self.limits.uploads,
                ("upload", caller.kind, caller.ident),
                f"Too many uploads for {caller.describe()}",
            )
        return None

    async def _guarded(self, call: Awaitable[bool]) -> bool:
        """The limiter's answer; True (let it through) when its store cannot be reached."""
        try:
            return await call
        except LimitsStorageError as exc:
            now = time.monotonic()
            if now - self._last_store_error > _STORE_ERROR_LOG_EVERY:
                self._last_store_error = now
                log.warning("rate limit store unavailable, not limiting: %s", exc.storage_error)
            return True

    async def _refuse(
        self, item: RateLimitItem, identifiers: tuple[str, ...], why: str
    ) -> JSONResponse:
        try:
            stats = await self.limiter.get_window_stats(item, *identifiers)
            reset = stats.reset_time
        except LimitsStorageError:
            reset = time.time() + item.get_expiry()
        retry_after = max(1, math.ceil(reset - time.time()))
        return JSONResponse(
            {
                "detail": f"{why} (limit: {item}). Retry in {retry_after} s.",
            },
            status_code=429,
            headers={
                "Retry-After": str(retry_after),
                "X-RateLimit-Limit": str(item.amount),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(math.ceil(reset)),
            },
        )
