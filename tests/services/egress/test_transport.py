"""The pinned transport: the connection goes to the address that was checked, with the original
Host and TLS name; a changed DNS answer or a redirect inward is refused before any connection.
Every server here listens on loopback; names come from a resolver under the test's control."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Generator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.egress import EgressPolicy, EgressRefused, Refusal
from services.egress.transport import PinnedTransport, pinned_client
from tests.egress_fakes import (
    LOOPBACK_CIDRS,
    PUBLIC_TEST_ADDRESS,
    fake_policy,
    loopback_only_client,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Seen:
    def __init__(self) -> None:
        self.hosts: list[str] = []
        self.paths: list[str] = []


def _serve(seen: Seen, tls: ssl.SSLContext | None = None) -> Generator[int, None, None]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.hosts.append(self.headers["Host"])
            seen.paths.append(self.path)
            if self.path.startswith("/to/"):
                self.send_response(302)
                self.send_header("Location", "http://" + self.path.removeprefix("/to/"))
            else:
                self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def port(seen: Seen) -> Iterator[int]:
    yield from _serve(seen)


def _resolver(answers: dict[str, list[list[str]]], calls: list[str]) -> EgressPolicy:
    """A policy whose resolver gives each name's answers in turn (the last one repeats)."""

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        queue = answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return EgressPolicy.from_setting(LOOPBACK_CIDRS, resolve)


async def test_the_checked_address_is_the_one_connected_to(port: int, seen: Seen) -> None:
    calls: list[str] = []
    policy = _resolver({"hooks.example.com": [["127.0.0.1"]]}, calls)
    async with pinned_client(policy, timeout=5) as client:
        answer = await client.get(f"http://hooks.example.com:{port}/deliver")
    assert answer.status_code == 200
    assert seen.hosts == [f"hooks.example.com:{port}"]  # the name, not the address, as Host
    assert calls == ["hooks.example.com"]  # resolved once: no second lookup to rebind


async def test_a_rebound_name_is_refused_at_use_and_nothing_is_sent(port: int, seen: Seen) -> None:
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return [PUBLIC_TEST_ADDRESS] if len(calls) == 1 else ["127.0.0.1"]

    policy = EgressPolicy(resolver=rebinding)  # no allow-list: loopback is refused
    url = f"http://rebind.example.com:{port}/deliver"
    policy.check(url)  # at creation: public
    async with pinned_client(policy, timeout=5) as client:
        with pytest.raises(EgressRefused) as refused:
            await client.get(url)  # at use: the name now points at this machine
    assert refused.value.reason == Refusal.loopback
    assert seen.paths == []


async def test_a_redirect_inward_is_refused(port: int, seen: Seen) -> None:
    calls: list[str] = []
    policy = EgressPolicy.from_setting(
        "127.0.0.0/8", _resolver({"cal.example.com": [["127.0.0.1"]]}, calls).resolver
    )
    async with pinned_client(policy, timeout=5) as client:
        for inward in ("169.254.169.254/latest/meta-data", "10.0.0.1/", "[::1]/"):
            with pytest.raises(EgressRefused):
                await client.get(
                    f"http://cal.example.com:{port}/to/{inward}", follow_redirects=True
                )
    # Each first hop was served; no redirect target was ever connected to.
    assert seen.paths == [
        f"/to/{p}" for p in ("169.254.169.254/latest/meta-data", "10.0.0.1/", "[::1]/")
    ]


def _certificate(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for `name`, and a client trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


async def test_tls_is_verified_against_the_name_not_the_address(tmp_path: Path, seen: Seen) -> None:
    server_tls, client_tls = _certificate(tmp_path, "secure.example.com")
    serving = _serve(seen, server_tls)
    port = next(serving)
    try:
        calls: list[str] = []
        policy = _resolver(
            {"secure.example.com": [["127.0.0.1"]], "other.example.com": [["127.0.0.1"]]}, calls
        )
        transport = PinnedTransport(policy, httpx.AsyncHTTPTransport(verify=client_tls))
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            answer = await client.get(f"https://secure.example.com:{port}/")
            assert answer.status_code == 200
            with pytest.raises(httpx.ConnectError):  # same address, wrong name: refused by TLS
                await client.get(f"https://other.example.com:{port}/")
        assert seen.hosts == [f"secure.example.com:{port}"]
    finally:
        serving.close()


async def test_the_tests_own_guard_never_leaves_loopback(port: int, seen: Seen) -> None:
    """tests/egress_fakes.py: a public name passes the policy, but the connection is refused
    before any packet, so no test can reach the address the fake resolver hands out."""
    async with loopback_only_client(fake_policy(""), 5) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("https://hooks.example.com/deliver")
    async with loopback_only_client(fake_policy(LOOPBACK_CIDRS), 5) as client:
        assert (await client.get(f"http://127.0.0.1:{port}/x")).status_code == 200
