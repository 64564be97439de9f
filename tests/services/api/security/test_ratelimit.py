"""Rate limits per API key, per bot token and per address, in memory and in the real Redis."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.api.tenants import hash_key
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.bots.test_routes import arm

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379"


@asynccontextmanager
async def limited(
    request: pytest.FixtureRequest, tmp_path: Path, **limits: Any
) -> AsyncIterator[ApiStack]:
    settings = make_settings("sqlite-local", request, tmp_path, **limits)
    async with open_stack(settings) as stack:
        yield stack


def client_from(stack: ApiStack, address: str) -> httpx.AsyncClient:
    """A client the app sees as coming from `address`."""
    transport = httpx.ASGITransport(app=stack.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


def _random_address() -> str:
    # Each test its own address: counters in Redis outlive a test by up to a minute.
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


async def test_a_key_past_its_limit_gets_429_with_retry_after_and_others_do_not(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with limited(request, tmp_path, rate_limit="3/minute") as stack:
        first, second = await stack.tenant("a"), await stack.tenant("b")
        for _ in range(3):
            assert (await stack.client.get("/v1/meetings", headers=first)).status_code == 200
        refused = await stack.client.get("/v1/meetings", headers=first)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-limit"] == "3"
        detail = refused.json()["detail"]
        assert "Too many requests for this API key" in detail and "3 per 1 minute" in detail
        # The same key in the other header is the same bucket; another key has its own.
        secret = first["Authorization"].removeprefix("Bearer ")
        via_header = await stack.client.get("/v1/meetings", headers={"X-API-Key": secret})
        assert via_header.status_code == 429
        assert (await stack.client.get("/v1/meetings", headers=second)).status_code == 200


async def test_unauthenticated_calls_count_per_address_and_probes_and_ui_are_exempt(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with limited(request, tmp_path, rate_limit="2/minute") as stack:
        statuses = [(await stack.client.get("/v1/meetings")).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        assert "this address" in (await stack.client.get("/v1/meetings")).json()["detail"]
        async with client_from(stack, "10.1.2.3") as elsewhere:
            assert (await elsewhere.get("/v1/meetings")).status_code == 401
        for path in ("/healthz", "/readyz", "/metrics", "/app/", "/app/static/js/main.js"):
            for _ in range(4):
                answer = await stack.client.get(path)
                assert answer.status_code == 200, (path, answer.status_code)


async def test_uploads_have_their_own_lower_limit(
    request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    flac = audio_dir / "asr_en" / "jfk.flac"
    async with limited(
        request, tmp_path, rate_limit="20/minute", rate_limit_uploads="2/minute"
    ) as stack:
        headers = await stack.tenant()
        assert [(await stack.upload(headers, flac)).status_code for _ in range(2)] == [202, 202]
        refused = await stack.upload(headers, flac)
        assert refused.status_code == 429
        assert "Too many uploads for this API key" in refused.json()["detail"]
        assert "2 per 1 minute" in refused.json()["detail"]
        listed = await stack.client.get("/v1/meetings", headers=headers)
        assert listed.status_code == 200 and len(listed.json()["items"]) == 2


async def test_bot_callbacks_are_counted_per_bot_token(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with limited(request, tmp_path, rate_limit="3/minute") as stack:
        headers = await stack.tenant()
        bots = []
        for _ in range(2):
            made = await stack.client.post(
                "/v1/bots", headers=headers, json={"meeting_url": "https://meet.jit.si/Room"}
            )
            bots.append((made.json()["id"], await arm(stack, made.json()["id"])))
        (first, first_auth), (second, second_auth) = bots
        beats = [
            (await stack.client.post(f"/v1/bots/{first}/heartbeat", headers=first_auth))
            for _ in range(4)
        ]
        assert [b.status_code for b in beats] == [200, 200, 200, 429]
        assert "this bot" in beats[-1].json()["detail"]
        other = await stack.client.post(f"/v1/bots/{second}/heartbeat", headers=second_auth)
        assert other.status_code == 200


async def test_made_up_keys_from_one_address_are_cut_off(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Each invented key would have a fresh bucket; the address's failures are what count."""
    async with limited(request, tmp_path, rate_limit_auth_failures="3/minute") as stack:
        valid = await stack.tenant()
        guesses = [
            await stack.client.get("/v1/meetings", headers={"X-API-Key": f"mk_{uuid.uuid4().hex}"})
            for _ in range(4)
        ]
        assert [g.status_code for g in guesses] == [401, 401, 401, 429]
        assert "invalid credentials from this address" in guesses[-1].json()["detail"]
        assert int(guesses[-1].headers["retry-after"]) >= 1
        async with client_from(stack, "10.9.9.9") as elsewhere:
            assert (await elsewhere.get("/v1/meetings", headers=valid)).status_code == 200
        # From the flooded address itself a valid key still works, and a bad one stays 429
        # (never a 401 that would tell a guess from a key).
        assert (await stack.client.get("/v1/meetings", headers=valid)).status_code == 200
        bad = {"X-API-Key": f"mk_{uuid.uuid4().hex}"}
        assert (await stack.client.get("/v1/meetings", headers=bad)).status_code == 429
        revoked = await stack.client.get("/v1/meetings", headers={"Authorization": "Bearer x"})
        assert revoked.status_code == 429


async def test_client_addresses_come_through_trusted_proxies_only(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Behind the proxy every client has its own bucket; a client that is not the proxy cannot
    pick its address with X-Forwarded-For."""
    async with limited(
        request, tmp_path, rate_limit="2/minute", trusted_proxies="10.77.0.0/16"
    ) as stack:
        async with client_from(stack, "10.77.0.5") as proxy:
            for client in ("198.51.100.1", "198.51.100.2"):
                # Hops: the client, then another trusted proxy in front of this one.
                hops = {"X-Forwarded-For": f"203.0.113.50, {client}, 10.77.0.9"}
                answers = [
                    (await proxy.get("/v1/meetings", headers=hops)).status_code for _ in range(3)
                ]
                assert answers == [401, 401, 429], client  # its own bucket of 2
        stranger = _random_address()
        async with client_from(stack, stranger) as direct:
            spoofed = [
                await direct.get("/v1/meetings", headers={"X-Forwarded-For": f"192.0.2.{i}"})
                for i in range(3)
            ]
        # The header is ignored: all three count against the stranger's own address.
        assert [a.status_code for a in spoofed] == [401, 401, 429]


async def test_limits_switched_off(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    async with limited(request, tmp_path, rate_limit_enabled=False, rate_limit="1/minute") as stack:
        headers = await stack.tenant()
        statuses = {(await stack.client.get("/v1/meetings", headers=headers)).status_code}
        statuses |= {(await stack.client.get("/v1/meetings", headers=headers)).status_code}
        assert statuses == {200}
        operation = (await stack.client.get("/openapi.json")).json()["paths"]["/v1/meetings"]
        assert "429" not in operation["get"]["responses"]


async def test_openapi_lists_429_on_limited_routes_only(stack: ApiStack) -> None:
    paths = (await stack.client.get("/openapi.json")).json()["paths"]
    assert "429" in paths["/v1/meetings"]["post"]["responses"]
    assert "429" in paths["/v1/bots/{bot_id}/heartbeat"]["post"]["responses"]
    assert "429" not in paths["/healthz"]["get"]["responses"]


async def test_counters_in_redis_are_shared_by_api_processes_and_hold_no_key(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from coredis import Redis

    settings = make_settings(
        "sqlite-local",
        request,
        tmp_path,
        rate_limit="3/minute",
        rate_limit_storage_url=REDIS_URL,
    )
    address = _random_address()
    async with open_stack(settings) as one, open_stack(settings) as two:
        headers = await one.tenant()
        secret = headers["Authorization"].removeprefix("Bearer ")
        async with client_from(one, address) as to_one, client_from(two, address) as to_two:
            statuses = [
                (await to_one.get("/v1/meetings", headers=headers)).status_code,
                (await to_two.get("/v1/meetings", headers=headers)).status_code,
                (await to_one.get("/v1/meetings", headers=headers)).status_code,
                (await to_two.get("/v1/meetings", headers=headers)).status_code,
            ]
    assert statuses == [200, 200, 200, 429]
    redis: Redis[str] = Redis.from_url(REDIS_URL, decode_responses=True)
    keys = [k async for k in redis.scan_iter(match="LIMITS*")]
    assert any(hash_key(secret) in k for k in keys)
    assert not any(secret in k or secret[3:20] in k for k in keys)


async def test_an_unreachable_store_does_not_take_the_api_down(
    request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="services.api.security.ratelimit")
    async with limited(
        request, tmp_path, rate_limit="1/minute", rate_limit_storage_url="redis://127.0.0.1:9"
    ) as stack:
        headers = await stack.tenant()
        for _ in range(3):
            assert (await stack.client.get("/v1/meetings", headers=headers)).status_code == 200
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "rate limit store unavailable" in warnings[0]


def test_a_malformed_limit_is_a_clear_startup_error(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from services.api.app import create_app

    settings = make_settings("sqlite-local", request, tmp_path, rate_limit="lots")
    with pytest.raises(ValueError, match="MINUTA_RATE_LIMIT='lots' is not a rate limit"):
        create_app(settings)
