"""Probes, and an OpenAPI document that describes every route's answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.api.storage.base import StorageError
from tests.services.api.conftest import ApiStack

pytestmark = pytest.mark.anyio


async def test_health_and_readiness(stack: ApiStack) -> None:
    assert (await stack.client.get("/healthz")).json() == {"status": "ok"}
    ready = await stack.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}


async def test_readiness_reports_a_broken_storage(
    stack: ApiStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise StorageError("bucket gone")

    monkeypatch.setattr(stack.ctx.storage, "check", broken)
    ready = await stack.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["storage"] == "unreachable: bucket gone"


async def test_openapi_describes_every_route(stack: ApiStack) -> None:
    spec = (await stack.client.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): op
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }
    expected = {
        ("POST", "/v1/meetings"),
        ("GET", "/v1/meetings"),
        ("GET", "/v1/meetings/{meeting_id}"),
        ("PATCH", "/v1/meetings/{meeting_id}"),
        ("DELETE", "/v1/meetings/{meeting_id}"),
        ("GET", "/v1/meetings/{meeting_id}/export"),
        ("PATCH", "/v1/meetings/{meeting_id}/speakers/{label}"),
        ("GET", "/v1/meetings/{meeting_id}/events"),
        ("GET", "/v1/meetings/{meeting_id}/audio"),
        ("GET", "/v1/persons"),
        ("PATCH", "/v1/persons/{person_id}"),
        ("POST", "/v1/persons/{person_id}/merge"),
        ("DELETE", "/v1/persons/{person_id}"),
        ("GET", "/v1/search"),
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("GET", "/v1/webhooks/{webhook_id}"),
        ("DELETE", "/v1/webhooks/{webhook_id}"),
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
        ("POST", "/v1/bots"),
        ("GET", "/v1/bots"),
        ("GET", "/v1/bots/{bot_id}"),
        ("DELETE", "/v1/bots/{bot_id}"),
        ("POST", "/v1/bots/calendar"),
        ("POST", "/v1/bots/{bot_id}/events"),
        ("POST", "/v1/bots/{bot_id}/heartbeat"),
        ("POST", "/v1/bots/{bot_id}/recording"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    }
    assert expected <= operations.keys()
    for key, op in operations.items():
        success = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        redirects = {code: r for code, r in op["responses"].items() if code.startswith("3")}
        assert success or redirects, key
        for code, answer in redirects.items():
            # A redirect's answer is where it leads: the Location header, documented.
            assert "Location" in answer.get("headers", {}), (key, code)
        for code, answer in success.items():
            if code == "204":
                assert "content" not in answer, key
                continue
            content = answer.get("content", {})
            assert content, key
            for media in content.values():
                # A real schema, not the empty one FastAPI writes without a response model.
                assert media.get("schema") or media.get("itemSchema"), key
                assert media.get("schema") != {}, key
        for code, answer in op["responses"].items():
            if code[0] in "45":
                assert list(answer["content"]) == ["application/json"], (key, code)
    assert set(spec["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}

    upload = operations[("POST", "/v1/meetings")]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert form["properties"]["file"]["format"] == "binary"
    assert {"title", "language", "num_speakers", "min_speakers", "max_speakers"} <= set(
        form["properties"]
    )
    assert {"202", "413", "415", "401"} <= set(upload["responses"])
    meeting = spec["components"]["schemas"]["MeetingOut"]
    assert {"id", "status", "progress", "error", "result"} <= set(meeting["properties"])
    search = operations[("GET", "/v1/search")]
    assert {"q", "limit", "meeting_id", "speaker", "date_from", "date_to"} == {
        p["name"] for p in search["parameters"]
    }
    assert {"200", "503"} <= set(search["responses"])
    hit = spec["components"]["schemas"]["SearchHitOut"]
    assert {"meeting_id", "start", "end", "speaker", "text", "score"} <= set(hit["properties"])
    events = operations[("GET", "/v1/meetings/{meeting_id}/events")]["responses"]["200"]
    assert "text/event-stream" in events["content"]


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
async def test_local_signed_urls_are_checked(stack: ApiStack, audio_dir: Path) -> None:
    from urllib.parse import urlsplit

    from services.api.storage.local import LocalStorage

    storage = stack.ctx.storage
    assert isinstance(storage, LocalStorage)
    headers = await stack.tenant()
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    assert response.status_code == 202
    key = next(p for p in storage.root.rglob("audio")).relative_to(storage.root).as_posix()
    url = urlsplit(await storage.presigned_get_url(key, expires_in=60))
    ok = await stack.client.get(f"{url.path}?{url.query}")
    assert ok.status_code == 200
    assert ok.content == (audio_dir / "asr_en" / "jfk.flac").read_bytes()

    tampered = url.query.replace("signature=", "signature=0")
    assert (await stack.client.get(f"{url.path}?{tampered}")).status_code == 403
    other_key = url.path.replace("/audio", "/other")
    assert (await stack.client.get(f"{other_key}?{url.query}")).status_code == 403
    expired = urlsplit(await storage.presigned_get_url(key, expires_in=-5))
    answer = await stack.client.get(f"{expired.path}?{expired.query}")
    assert answer.status_code == 403
    assert answer.json()["detail"] == "This link is invalid or has expired."
