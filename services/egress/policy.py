"""Which addresses the server may fetch from or navigate to (webhooks, calendar URLs, bots).

A URL passes when its scheme is http(s), it carries no user name or password, and every address
its host resolves to is public: not loopback, private, link-local, unique-local, multicast,
reserved, unspecified, shared (CGNAT), documentation, nor an IPv6 form that embeds an IPv4 one
(IPv4-mapped, 6to4, NAT64, Teredo). Numeric hosts are read the way a resolver reads them, so
`2130706433`, `0x7f000001`, `127.1` and `0177.0.0.1` are all 127.0.0.1. An on-premise install
names its intranet ranges in an allow-list (`MINUTA_EGRESS_ALLOW_CIDRS`).

Callers check twice: when a URL is stored (a 422 with `EgressRefused.message`) and when it is
used, by connecting to the very address that was checked (services/egress/transport.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to, as strings; raises OSError when it does not.
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")
# What inet_aton accepts: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x).
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)


class Refusal(StrEnum):
    """Why a URL is refused: the code that logs and bot details show instead of the network's
    own words."""

    scheme = "scheme"
    credentials = "credentials"
    malformed = "malformed"
    no_host = "no_host"
    unresolvable = "unresolvable"
    unspecified = "unspecified"
    loopback = "loopback"
    private = "private"
    link_local = "link_local"
    unique_local = "unique_local"
    multicast = "multicast"
    reserved = "reserved"
    embedded_ipv4 = "embedded_ipv4"
    not_global = "not_global"


_SAYS = {
    Refusal.unspecified: "the unspecified address",
    Refusal.loopback: "a loopback address (this machine)",
    Refusal.private: "a private network address",
    Refusal.link_local: "a link-local address (cloud metadata lives there)",
    Refusal.unique_local: "a unique-local IPv6 address",
    Refusal.multicast: "a multicast address",
    Refusal.reserved: "a reserved address",
    Refusal.embedded_ipv4: "an IPv6 form that embeds an IPv4 address (mapped, 6to4, NAT64, Teredo)",
    Refusal.not_global: "an address that is not publicly routable",
}


class EgressRefused(ValueError):
    """A URL the server must not fetch: `reason` is a stable code, `message` is for a person."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_cidrs(value: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from "10.0.0.0/8, ::1/128" (a bare address is a /32 or /128)."""
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host names, in every spelling a resolver accepts; None for a name."""
    bare = host.strip().removeprefix("[").removesuffix("]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            return None
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4, NAT64 or Teredo IPv6 address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # IPv4-compatible (::a.b.c.d, deprecated) still routes to an IPv4 host on some stacks.
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def classify(address: IPAddress) -> Refusal | None:
    """Why this address is not public, or None when it is."""
    if address.is_unspecified:
        return Refusal.unspecified
    if address.is_loopback:
        return Refusal.loopback
    if embedded_ipv4(address) is not None:
        return Refusal.embedded_ipv4
    if address.is_link_local or (
        isinstance(address, ipaddress.IPv6Address) and address in _LINK_LOCAL_V6
    ):
        return Refusal.link_local
    if address.is_multicast:
        return Refusal.multicast
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return Refusal.unique_local
    if address.is_reserved:  # before private: Python counts 240.0.0.0/4 as both
        return Refusal.reserved
    if address.is_private:
        return Refusal.private
    if not address.is_global:
        return Refusal.not_global
    return None


def system_resolver(host: str, port: int) -> list[str]:
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]).split("%", 1)[0] for *_, sockaddr in found]


@dataclass(frozen=True)
class Target:
    """A URL that passed, with the addresses it was checked at (connect to one of these)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)

    @classmethod
    def from_setting(cls, allow_cidrs: str, resolver: Resolver | None = None) -> EgressPolicy:
        return cls(parse_cidrs(allow_cidrs), resolver or system_resolver)

    def allowed(self, address: IPAddress) -> bool:
        # An IPv4-mapped address is that IPv4 host on this machine's own stack, so it is allowed
        # with it; 6to4, NAT64 and Teredo go through a relay, and must be allowed as IPv6.
        inner = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        return any(a in net for net in self.allow for a in (address, inner) if a is not None)

    def check_address(self, address: IPAddress, what: str = "the URL") -> None:
        """Raises EgressRefused unless the address is public or in the allow-list."""
        reason = classify(address)
        if reason is None or self.allowed(address):
            return
        raise EgressRefused(
            reason,
            f"{what} leads to {address}, {_SAYS[reason]}; only public addresses are reached "
            "(an on-premise install allows its own ranges with MINUTA_EGRESS_ALLOW_CIDRS)",
        )

    def check_syntax(self, url: str, what: str = "the URL") -> tuple[str, str, int]:
        """(scheme, host, port) of an http(s) URL without credentials; no lookups."""
        if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in url):
            raise EgressRefused(Refusal.malformed, f"{what} contains spaces or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise EgressRefused(Refusal.malformed, f"{what} is not a valid URL") from exc
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise EgressRefused(Refusal.scheme, f"{what} must be an http or https link")
        if "@" in parts.netloc:
            raise EgressRefused(
                Refusal.credentials, f"{what} must not carry a user name or password"
            )
        if not parts.hostname:
            raise EgressRefused(Refusal.no_host, f"{what} has no host name")
        return scheme, parts.hostname, port or (443 if scheme == "https" else 80)

    def _target(self, url: str, what: str, resolved: Sequence[str] | None) -> Target:
        scheme, host, port = self.check_syntax(url, what)
        literal = numeric_host(host)
        if literal is not None:
            addresses: tuple[IPAddress, ...] = (literal,)
        else:
            if not resolved:
                raise EgressRefused(
                    Refusal.unresolvable, f"{what}: the host {host} does not resolve"
                )
            addresses = tuple(dict.fromkeys(ipaddress.ip_address(a) for a in resolved))
        # Every address must pass: a name that also resolves inward is refused as a whole.
        for address in addresses:
            self.check_address(address, what)
        return Target(url, scheme, host, port, addresses)

    def check(self, url: str, what: str = "the URL") -> Target:
        """Resolve and check (blocking; the bot's browser thread)."""
        _, host, port = self.check_syntax(url, what)
        return self._target(url, what, None if numeric_host(host) else self._resolve(host, port))

    async def check_async(self, url: str, what: str = "the URL") -> Target:
        """Resolve (in a thread, as asyncio's own getaddrinfo does) and check."""
        _, host, port = self.check_syntax(url, what)
        resolved = None
        if numeric_host(host) is None:
            resolved = await asyncio.to_thread(self._resolve, host, port)
        return self._target(url, what, resolved)

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            return list(self.resolver(host, port))
        except (OSError, UnicodeError):
            return []
