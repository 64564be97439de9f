"""The requests the OpenAPI fuzz test found answered with a 500, pinned as plain tests on both
backends (the fuzz run is bounded and may not draw them again), and the answers it found
undocumented."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from services.api.db.models import Meeting
from tests.services.api.conftest import ApiStack
from tests.services.api.helpers import completed, sample_result

pytestmark = pytest.mark.anyio

NUL = "\x00"


async def _completed_meeting(stack: ApiStack, headers: dict[str, str], audio_dir: Path) -> str:
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title="Planning")
    assert response.status_code == 202, response.text
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
        assert meeting is not None
    await stack.broker.deliver(completed(meeting, sample_result()))
    return str(meeting.id)


def _says_nul(answer_json: dict[str, object]) -> bool:
    return "NUL" in str(answer_json["detail"])


async def test_nul_characters_in_text_are_refused_not_a_500(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    meeting_id = await _completed_meeting(stack, headers, audio_dir)
    client = stack.client
    for method, url, body in [
        ("PATCH", f"/v1/meetings/{meeting_id}", {"title": f"a{NUL}b"}),
        ("PATCH", f"/v1/meetings/{meeting_id}", {"minutes": {"language": NUL}}),
        ("PATCH", f"/v1/meetings/{meeting_id}/speakers/SPEAKER_00", {"name": NUL}),
        ("POST", "/v1/webhooks", {"url": "http://127.0.0.1:9/", "description": NUL}),
    ]:
        answer = await client.request(method, url, headers=headers, json=body)
        assert answer.status_code == 422, (url, body, answer.text)
        assert _says_nul(answer.json()), answer.text
    # In a multipart form field too, before anything is stored.
    upload = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title=f"x{NUL}y")
    assert upload.status_code == 422 and _says_nul(upload.json()), upload.text
    search = await client.get("/v1/search", headers=headers, params={"q": "plan", "speaker": NUL})
    assert search.status_code == 422, search.text
    # Nothing of the refused requests was written.
    meeting = (await client.get(f"/v1/meetings/{meeting_id}", headers=headers)).json()
    assert meeting["title"] == "Planning"
    assert [s["name"] for s in meeting["result"]["speakers"]] == [None, None]


async def test_a_calendar_body_that_is_not_utf8_is_a_422(stack: ApiStack) -> None:
    headers = await stack.tenant()
    answer = await stack.client.post(
        "/v1/bots/calendar",
        headers={**headers, "Content-Type": "application/json"},
        content=b"\x80\xff{not json",
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)
async def test_a_local_link_with_a_non_ascii_signature_is_a_403(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    meeting_id = await _completed_meeting(stack, headers, audio_dir)
    link = (await stack.client.get(f"/v1/meetings/{meeting_id}/audio", headers=headers)).json()
    url = urlsplit(link["url"])
    expires = dict(p.split("=", 1) for p in url.query.split("&"))["expires"]
    answer = await stack.client.get(url.path, params={"expires": expires, "signature": "é€"})
    assert answer.status_code == 403, answer.text


async def test_the_spec_documents_the_answers_the_fuzzer_saw(stack: ApiStack) -> None:
    spec = (await stack.client.get("/openapi.json")).json()
    paths = spec["paths"]
    # A JSON body that cannot be decoded is FastAPI's 400, on every route with a JSON body.
    for path, item in paths.items():
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert "400" in operation["responses"], (method, path)
    assert "422" in paths["/v1/meetings"]["post"]["responses"]
    assert "400" in paths["/v1/meetings"]["get"]["responses"]  # a cursor not issued here
    assert "400" in paths["/v1/bots/calendar"]["post"]["responses"]


async def test_json_booleans_are_not_numbers(stack: ApiStack) -> None:
    headers = await stack.tenant()
    for method, url, body in [
        ("PUT", "/v1/tenant/retention", {"days": True}),
        ("POST", "/v1/bots", {"meeting_url": "https://meet.example.com/x", "max_duration": True}),
    ]:
        answer = await stack.client.request(method, url, headers=headers, json=body)
        assert answer.status_code == 422, (url, answer.text)
    kept = await stack.client.get("/v1/tenant/retention", headers=headers)
    assert kept.status_code == 200 and kept.json()["days"] is None
