"""The egress policy on every URL form a hostile tenant tried, without sending any traffic: names
go to the fake resolver, numbers are read the way a resolver reads them."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from services.egress import EgressPolicy, EgressRefused, Refusal, classify, numeric_host
from tests.egress_fakes import LOOPBACK_CIDRS, PUBLIC_TEST_ADDRESS, fake_policy, fake_resolver

# (url, the refusal without an allow-list); every one of these reaches inside a network.
REFUSED = [
    ("http://127.0.0.1/", Refusal.loopback),
    ("http://127.0.0.1:5432/", Refusal.loopback),
    ("http://localhost/", Refusal.loopback),
    ("http://LOCALHOST./", Refusal.loopback),
    ("http://[::1]/", Refusal.loopback),
    ("http://[::ffff:127.0.0.1]/", Refusal.embedded_ipv4),
    ("http://[::ffff:7f00:1]/", Refusal.embedded_ipv4),
    ("http://[::127.0.0.1]/", Refusal.embedded_ipv4),
    ("http://2130706433/", Refusal.loopback),
    ("http://0x7f000001/", Refusal.loopback),
    ("http://0x7F.0.0.1/", Refusal.loopback),
    ("http://127.1/", Refusal.loopback),
    ("http://127.0.1/", Refusal.loopback),
    ("http://0177.0.0.1/", Refusal.loopback),
    ("http://017700000001/", Refusal.loopback),
    ("http://127.0.0.1./", Refusal.loopback),
    ("http://0.0.0.0/", Refusal.unspecified),
    ("http://0/", Refusal.unspecified),
    ("http://[::]/", Refusal.unspecified),
    ("http://169.254.169.254/latest/meta-data/", Refusal.link_local),
    ("http://[fe80::1]/", Refusal.link_local),
    ("http://[fe80::1%25eth0]/", Refusal.link_local),
    ("http://10.0.0.1/", Refusal.private),
    ("http://172.16.5.4/", Refusal.private),
    ("http://192.168.1.1/", Refusal.private),
    ("http://[fc00::1]/", Refusal.unique_local),
    ("http://[fd12:3456::1]/", Refusal.unique_local),
    ("http://224.0.0.1/", Refusal.multicast),
    ("http://[ff02::1]/", Refusal.multicast),
    ("http://240.0.0.1/", Refusal.reserved),
    ("http://255.255.255.255/", Refusal.reserved),
    ("http://100.64.0.1/", Refusal.not_global),
    ("http://192.0.2.1/", Refusal.private),
    ("http://[2002:7f00:1::]/", Refusal.embedded_ipv4),  # 6to4 of 127.0.0.1
    ("http://[2002:a9fe:a9fe::]/", Refusal.embedded_ipv4),  # 6to4 of 169.254.169.254
    ("http://[64:ff9b::7f00:1]/", Refusal.embedded_ipv4),  # NAT64 of 127.0.0.1
    ("http://[64:ff9b:1::a00:1]/", Refusal.embedded_ipv4),  # local-use NAT64
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", Refusal.embedded_ipv4),  # Teredo
    ("http://user:secret@meet.example.com/", Refusal.credentials),
    ("http://user@meet.example.com/", Refusal.credentials),
    ("http://:@meet.example.com/", Refusal.credentials),
    ("https://meet.example.com@127.0.0.1/", Refusal.credentials),
    ("http://127.0.0.1\\@meet.example.com/", Refusal.malformed),
    ("http://meet.example.com /x", Refusal.malformed),
    ("ftp://meet.example.com/", Refusal.scheme),
    ("file:///etc/passwd", Refusal.scheme),
    ("gopher://127.0.0.1:6379/_INFO", Refusal.scheme),
    ("http:///path-only", Refusal.no_host),
    ("http://no-such-host.invalid/", Refusal.unresolvable),
]

ALLOWED = [
    "https://meet.example.com/abc-defg-hij",
    "https://8.8.8.8/",
    "http://[2606:4700:4700::1111]/",
    "https://meet.jit.si:443/MinutaRoom",
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_every_inward_form_is_refused_without_an_allow_list(url: str, reason: Refusal) -> None:
    with pytest.raises(EgressRefused) as refused:
        fake_policy("").check(url, "the webhook url")
    assert refused.value.reason == reason, refused.value.message
    assert refused.value.message.startswith("the webhook url")


@pytest.mark.parametrize("url", ALLOWED)
def test_public_addresses_pass(url: str) -> None:
    target = fake_policy("").check(url)
    assert all(classify(a) is None for a in target.addresses)
    assert target.port in (80, 443)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_check_agrees(anyio_backend: str) -> None:
    policy = fake_policy("")
    for url, reason in REFUSED:
        with pytest.raises(EgressRefused) as refused:
            await policy.check_async(url)
        assert refused.value.reason == reason, url
    target = await policy.check_async("https://meet.example.com/x")
    assert target.addresses == (ipaddress.ip_address(PUBLIC_TEST_ADDRESS),)


def test_numeric_spellings_are_read_as_a_resolver_reads_them() -> None:
    # The system's own parser (inet_aton, as getaddrinfo uses for numeric hosts) agrees.
    for spelling in ("2130706433", "0x7f000001", "127.1", "0177.0.0.1", "0x7f.1", "127.0.0.1."):
        expected = ipaddress.IPv4Address(socket.inet_aton(spelling.rstrip(".")))
        assert numeric_host(spelling) == expected == ipaddress.IPv4Address("127.0.0.1")
    assert numeric_host("[::ffff:127.0.0.1]") == ipaddress.ip_address("::ffff:7f00:1")
    assert numeric_host("meet.example.com") is None
    assert numeric_host("deadbeef") is None  # a name: inet_aton wants 0x for hex
    assert numeric_host("1.2.3.4.5") is None


def test_the_allow_list_opens_only_its_ranges() -> None:
    policy = fake_policy(LOOPBACK_CIDRS)
    for url in (
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://[::1]/",
        "http://127.1/",
        "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
    ):
        assert policy.check(url).addresses, url
    for url in (
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://0.0.0.0/",
        "http://[2002:7f00:1::]/",  # 6to4, NAT64 and Teredo go through relays: not loopback
        "http://[64:ff9b::7f00:1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    ):
        with pytest.raises(EgressRefused):
            policy.check(url)
    intranet = fake_policy("10.20.0.0/16, fd00:1::/64")
    assert intranet.check("http://10.20.3.4/").addresses
    assert intranet.check("http://[fd00:1::5]/").addresses
    with pytest.raises(EgressRefused):
        intranet.check("http://10.21.0.1/")
    with pytest.raises(EgressRefused):  # credentials are refused whatever the range
        intranet.check("http://u:p@10.20.3.4/")


def test_a_name_with_one_inward_address_is_refused_as_a_whole() -> None:
    def split_horizon(host: str, port: int) -> list[str]:
        return [PUBLIC_TEST_ADDRESS, "10.0.0.7"] if host == "both.example.com" else []

    policy = EgressPolicy(resolver=split_horizon)
    with pytest.raises(EgressRefused) as refused:
        policy.check("https://both.example.com/")
    assert refused.value.reason == Refusal.private


def test_a_bad_allow_list_is_an_error() -> None:
    with pytest.raises(ValueError):
        EgressPolicy.from_setting("10.0.0.0/33")


def test_the_fake_resolver_never_answers_inward_for_a_public_name() -> None:
    # Guards the tests themselves: a public-looking name must never lead to a real address
    # on this machine's networks (tests connect only to loopback literals).
    assert classify(ipaddress.ip_address(fake_resolver("anything.example.org", 443)[0])) is None
