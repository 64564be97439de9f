"""An httpx transport that connects only to addresses the egress policy passed.

Each request's host is resolved once, every address is checked, and the connection goes to the
checked address itself, with the original Host header and TLS server name (SNI, and the
certificate is verified against the name). A DNS answer that changes between the check and the
connect (rebinding) therefore changes nothing. A redirect is a new request through the same
transport, so it is checked like the first.
"""

from __future__ import annotations

import ipaddress

import httpx

from services.egress.policy import EgressPolicy


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: EgressPolicy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        # No kept-alive connections: a pooled connection is keyed by address, not by name.
        self._inner = inner or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Raises EgressRefused (not an httpx error) when the host is refused."""
        target = await self.policy.check_async(str(request.url))
        if request.url.scheme == "https" and "sni_hostname" not in request.extensions:
            request.extensions["sni_hostname"] = request.url.host
        # httpx set the Host header from the URL when the request was built; it stays.
        original = request.url
        failure: httpx.ConnectError | None = None
        for address in target.addresses:  # in the resolver's order, as a browser would
            host = str(address)
            if isinstance(address, ipaddress.IPv6Address):
                host = f"[{host}]"
            request.url = original.copy_with(host=host)
            try:
                return await self._inner.handle_async_request(request)
            except httpx.ConnectError as exc:  # nothing was sent: the next address may answer
                failure = exc
        assert failure is not None  # a Target always has an address
        raise failure

    async def aclose(self) -> None:
        await self._inner.aclose()


def pinned_client(policy: EgressPolicy, *, timeout: float) -> httpx.AsyncClient:
    """A client for fetching tenant-supplied URLs: pinned addresses, redirects not followed."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy), timeout=timeout, follow_redirects=False
    )
