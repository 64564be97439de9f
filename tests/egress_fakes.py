"""A resolver for tests: answers without DNS, so no test sends a query off this machine.

`localhost` is loopback; names under `.invalid` do not resolve; every other name gets an
address that is public but is never connected to (tests that connect use loopback literals).
"""

from __future__ import annotations

import socket

from services.egress import EgressPolicy

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
