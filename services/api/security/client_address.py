"""The client's address: the socket's peer, or, when that peer is a trusted proxy
(`MINUTA_TRUSTED_PROXIES`), the nearest address in X-Forwarded-For that is not one.

Read right to left: each proxy appends the address it received from, so only the entries added
by trusted proxies can be believed; the first untrusted one is the client. A client behind no
trusted proxy cannot choose its address by sending the header itself.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers
from starlette.types import Scope

from services.egress import IPNetwork


def _trusted(address: str, proxies: tuple[IPNetwork, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in net for net in proxies)


def client_address(scope: Scope, proxies: tuple[IPNetwork, ...] = ()) -> str:
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    forwarded = ",".join(Headers(scope=scope).getlist("x-forwarded-for"))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer
