"""Security headers on every kind of answer, and CORS: none allowed unless configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.api.security.headers import content_security_policy, media_sources
from services.api.settings import ApiSettings
from tests.services.api.conftest import ApiStack, open_stack
from tests.services.api.helpers import settings_from

pytestmark = pytest.mark.anyio

ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}


async def test_every_answer_carries_the_headers(stack: ApiStack) -> None:
    headers = await stack.tenant()
    answers = {
        "json": await stack.client.get("/v1/meetings", headers=headers),
        "401": await stack.client.get("/v1/meetings"),
        "404": await stack.client.get("/v1/nothing-here"),
        "ui shell": await stack.client.get("/app/"),
        "ui module": await stack.client.get("/app/static/js/main.js"),
        "probe": await stack.client.get("/healthz"),
        "docs": await stack.client.get("/docs"),
    }
    for what, answer in answers.items():
        for name, value in ALWAYS.items():
            assert answer.headers.get(name) == value, (what, name)
        csp = _directives(answer.headers["content-security-policy"])
        assert csp["frame-ancestors"] == ["'none'"], what

    ui = _directives(answers["ui shell"].headers["content-security-policy"])
    assert ui["default-src"] == ["'none'"]
    assert ui["script-src"] == ["'self'"] and ui["connect-src"] == ["'self'"]
    assert "'unsafe-inline'" not in ui["script-src"] + ui["style-src"]
    assert "'unsafe-eval'" not in ui["script-src"]
    docs = _directives(answers["docs"].headers["content-security-policy"])
    assert "https://cdn.jsdelivr.net" in docs["script-src"]

    assert answers["json"].headers["cache-control"] == "no-store"
    assert answers["401"].headers["cache-control"] == "no-store"
    # The UI keeps its own caching rules (the shell revalidates, modules use ETags).
    assert answers["ui shell"].headers["cache-control"] == "no-cache"
    assert "no-store" not in answers["ui module"].headers.get("cache-control", "")


async def test_the_player_may_load_audio_from_where_presigned_urls_point(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    uploaded = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    link = await stack.client.get(f"/v1/meetings/{uploaded.json()['id']}/audio", headers=headers)
    url = link.json()["url"]
    assert link.headers["cache-control"] == "no-store"  # a signed link is not cached anywhere
    shell = await stack.client.get("/app/")
    media = _directives(shell.headers["content-security-policy"])["media-src"]
    assert any(url.startswith(source) for source in media if source != "'self'"), (media, url)


def test_media_sources_follow_the_storage_settings(tmp_path: Path) -> None:
    local = settings_from(data_dir=tmp_path, public_base_url="https://minutes.example.org/")
    assert media_sources(local) == ["https://minutes.example.org"]
    s3 = settings_from(
        data_dir=tmp_path,
        s3_bucket="b",
        s3_endpoint_url="http://s3.internal:9000",
        s3_presign_endpoint_url="https://files.example.org",
    )
    assert media_sources(s3) == ["https://files.example.org"]
    virtual = settings_from(
        data_dir=tmp_path,
        s3_bucket="b",
        s3_endpoint_url="https://s3.example.org",
        s3_addressing_style="virtual",
    )
    assert media_sources(virtual) == ["https://s3.example.org", "https://*.s3.example.org"]
    aws = settings_from(data_dir=tmp_path, s3_bucket="b", s3_endpoint_url=None)
    assert "https://*.amazonaws.com" in content_security_policy(aws)


async def test_https_answers_ask_for_strict_transport(stack: ApiStack) -> None:
    answer = await stack.client.get("https://api.test/healthz")
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    plain = await stack.client.get("/healthz")
    assert "strict-transport-security" not in plain.headers


async def test_no_cross_origin_caller_is_allowed_by_default(stack: ApiStack) -> None:
    headers = await stack.tenant()
    preflight = await stack.client.options(
        "/v1/meetings",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    simple = await stack.client.get(
        "/v1/meetings", headers={**headers, "Origin": "https://evil.example"}
    )
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers  # the browser hides the answer


async def test_configured_origins_are_allowed_and_others_refused(
    api_settings: ApiSettings,
) -> None:
    settings = api_settings.model_copy(
        update={"cors_origins": "https://minutes.example.org, https://intranet.example.org/"}
    )
    async with open_stack(settings) as stack:
        headers = await stack.tenant()
        allowed = await stack.client.options(
            "/v1/meetings",
            headers={
                "Origin": "https://intranet.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://intranet.example.org"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers
        # The preflight is answered before the rate limiter and still has the security headers.
        assert allowed.headers["x-content-type-options"] == "nosniff"

        refused = await stack.client.options(
            "/v1/meetings",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        bad_header = await stack.client.options(
            "/v1/meetings",
            headers={
                "Origin": "https://minutes.example.org",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-evil",
            },
        )
        assert bad_header.status_code == 400

        simple = await stack.client.get(
            "/v1/meetings", headers={**headers, "Origin": "https://minutes.example.org"}
        )
        assert simple.headers["access-control-allow-origin"] == "https://minutes.example.org"
        assert "retry-after" in simple.headers["access-control-expose-headers"].lower()
