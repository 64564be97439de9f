"""A resolver for tests: answers without DNS, so no test sends a query off this machine.

`localhost` is loopback; names under `.invalid` do not resolve; every other name gets an
address that is public, so the policy passes it. Nothing may connect to it: the API stacks of
the tests deliver webhooks through `loopback_only_client`, which refuses any other address
before a packet is sent.
"""

from __future__ import annotations

import ipaddress
import socket

import httpx

from services.egress import EgressPolicy
from services.egress.transport import PinnedTransport

# Public (so the policy passes it) and never contacted: only names resolve to it in tests.
PUBLIC_TEST_ADDRESS = "93.184.215.14"
LOOPBACK_CIDRS = "127.0.0.0/8,::1/128"


def fake_resolver(host: str, port: int) -> list[str]:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return ["127.0.0.1", "::1"]
    if name.endswith(".invalid"):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [PUBLIC_TEST_ADDRESS]


def fake_policy(allow_cidrs: str = "") -> EgressPolicy:
    return EgressPolicy.from_setting(allow_cidrs, fake_resolver)


class LoopbackOnly(httpx.AsyncBaseTransport):
    """Under the pinned transport: refuses to connect anywhere but loopback (tests' guard)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not ipaddress.ip_address(request.url.host).is_loopback:
            raise httpx.ConnectError(f"tests connect only to loopback, not {request.url.host}")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def loopback_only_client(policy: EgressPolicy, timeout: float) -> httpx.AsyncClient:
    """The production webhook client (pinned, checked, no redirects), unable to leave loopback."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy, LoopbackOnly()), timeout=timeout, follow_redirects=False
    )
