"""Reading, paging, editing, renaming speakers, exporting and deleting meetings."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest
from docx import Document

from core.contracts import DeleteMeetingVectors
from core.results import MeetingResult
from services.api.db.models import Meeting
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.api.helpers import completed, sample_result

pytestmark = pytest.mark.anyio


async def _completed(
    stack: ApiStack, headers: dict[str, str], audio_dir: Path, result: str = "result_en.json"
) -> Meeting:
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title="Planning")
    assert response.status_code == 202
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
        assert meeting is not None
    await stack.broker.deliver(completed(meeting, sample_result(result)))
    return meeting


async def test_read_returns_status_progress_error_and_the_result(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    meeting = await _completed(stack, headers, audio_dir)
    body = (await stack.client.get(f"/v1/meetings/{meeting.id}", headers=headers)).json()
    assert {"id", "status", "progress", "error", "result"} <= body.keys()
    assert body["status"] == "completed" and body["completed_at"] is not None
    # The result is the `minuta process --format json` document, unchanged.
    assert MeetingResult.model_validate(body["result"]) == MeetingResult.model_validate(
        sample_result()
    )


async def test_listing_is_newest_first_in_stable_pages(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    wav = audio_dir / "asr_en" / "LDC93S1.wav"
    created = [(await stack.upload(headers, wav, title=f"m{i}")).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await stack.client.get("/v1/meetings", headers=headers, params=params)).json()
        seen += [m["id"] for m in page["items"]]
        assert all("result" not in m for m in page["items"])  # summaries only
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))

    bad = await stack.client.get("/v1/meetings", headers=headers, params={"cursor": "nonsense!"})
    assert bad.status_code == 400
    too_many = await stack.client.get("/v1/meetings", headers=headers, params={"limit": 1000})
    assert too_many.status_code == 422


async def test_rename_speakers_shows_in_result_and_exports(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    meeting = await _completed(stack, headers, audio_dir)
    base = f"/v1/meetings/{meeting.id}"

    renamed = await stack.client.patch(
        f"{base}/speakers/SPEAKER_01", headers=headers, json={"name": "Boris"}
    )
    assert renamed.status_code == 200
    boris = renamed.json()["person_id"]
    named = {"id": "SPEAKER_01", "name": "Boris", "person_id": boris, "named_by": "user"}
    assert renamed.json() == named
    speakers = (await stack.client.get(base, headers=headers)).json()["result"]["speakers"]
    assert speakers == [
        {"id": "SPEAKER_00", "name": None, "person_id": None, "named_by": None},
        named,
    ]

    md = (await stack.client.get(f"{base}/export", headers=headers, params={"format": "md"})).text
    assert "**Boris**: Write the migration guide" in md  # the owner label became the name
    assert "] Boris:** I will write the migration guide" in md

    unknown = await stack.client.patch(
        f"{base}/speakers/SPEAKER_09", headers=headers, json={"name": "X"}
    )
    assert unknown.status_code == 404
    assert "SPEAKER_00, SPEAKER_01" in unknown.json()["detail"]

    cleared = await stack.client.patch(
        f"{base}/speakers/SPEAKER_01", headers=headers, json={"name": ""}
    )
    assert cleared.json() == {"id": "SPEAKER_01", "name": None, "person_id": None, "named_by": None}


async def test_edit_title_and_minutes_validated_against_the_schema(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    meeting = await _completed(stack, headers, audio_dir)
    base = f"/v1/meetings/{meeting.id}"
    minutes = sample_result()["minutes"] | {
        "summary": "Edited by a person.",
        "decisions": ["Release on Tuesday instead."],
    }
    patched = await stack.client.patch(
        base, headers=headers, json={"title": "Release sync", "minutes": minutes}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["title"] == "Release sync"
    assert body["result"]["minutes"]["decisions"] == ["Release on Tuesday instead."]
    exported = await stack.client.get(f"{base}/export?format=json", headers=headers)
    assert json.loads(exported.text)["minutes"]["summary"] == "Edited by a person."
    assert 'filename="Release_sync.json"' in exported.headers["content-disposition"]

    for bad in (
        minutes | {"colour": "red"},  # not in the schema
        {k: v for k, v in minutes.items() if k != "language"},  # required
        minutes | {"action_items": [{"owner": "A", "task": "x"}]},  # no evidence
    ):
        response = await stack.client.patch(base, headers=headers, json={"minutes": bad})
        assert response.status_code == 422, bad
    assert (await stack.client.patch(base, headers=headers, json={"title": ""})).status_code == 422
    still = (await stack.client.get(base, headers=headers)).json()
    assert still["result"]["minutes"]["summary"] == "Edited by a person."


async def test_minutes_and_speakers_of_an_unfinished_meeting_are_409(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    meeting_id = (await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")).json()["id"]
    base = f"/v1/meetings/{meeting_id}"
    minutes = sample_result()["minutes"]
    for response in (
        await stack.client.patch(base, headers=headers, json={"minutes": minutes}),
        await stack.client.patch(
            f"{base}/speakers/SPEAKER_00", headers=headers, json={"name": "A"}
        ),
        await stack.client.get(f"{base}/export", headers=headers),
    ):
        assert response.status_code == 409
        assert "still being processed (status: queued)" in response.json()["detail"]
    assert (
        await stack.client.patch(base, headers=headers, json={"title": "ok"})
    ).status_code == 200


@pytest.mark.parametrize("fmt", ["md", "json", "srt", "vtt", "docx"])
async def test_exports_render_every_format(stack: ApiStack, audio_dir: Path, fmt: str) -> None:
    headers = await stack.tenant()
    meeting = await _completed(stack, headers, audio_dir)
    await stack.client.patch(
        f"/v1/meetings/{meeting.id}/speakers/SPEAKER_00", headers=headers, json={"name": "Anna"}
    )
    response = await stack.client.get(
        f"/v1/meetings/{meeting.id}/export", headers=headers, params={"format": fmt}
    )
    assert response.status_code == 200
    assert f'filename="Planning.{fmt}"' in response.headers["content-disposition"]
    content_type = response.headers["content-type"]
    if fmt == "md":
        assert content_type.startswith("text/markdown")
        assert response.text.startswith("# Weekly release planning")
        assert "## Decisions\n\n- Release version two next Monday." in response.text
    elif fmt == "json":
        result = MeetingResult.model_validate_json(response.text)
        assert result.speakers[0].name == "Anna"
    elif fmt == "srt":
        first = response.text.split("\n\n")[0].splitlines()
        assert first == [
            "1",
            "00:00:00,000 --> 00:00:06,200",
            "Anna: Good morning. Today we agree on the release date for version two.",
        ]
    elif fmt == "vtt":
        assert response.text.startswith("WEBVTT\n")
        assert (
            "<v SPEAKER_01>I will write the migration guide &amp; send it &lt;on Friday&gt;."
            in (response.text)
        )
    else:
        assert content_type.startswith("application/vnd.openxmlformats")
        doc = Document(io.BytesIO(response.content))
        text = "\n".join(p.text for p in doc.paragraphs)
        assert "Weekly release planning" not in text.splitlines()[0]  # the meeting's own title
        assert text.splitlines()[0] == "Planning"
        assert "[00:00] Anna: Good morning." in text
        assert "Build the second meeting room first." in text
        table = doc.tables[0]
        assert [c.text for c in table.rows[1].cells] == [
            "SPEAKER_01",
            "Write the migration guide and send it to customers",
            "Friday",
            "00:21",
        ]


async def test_export_of_a_russian_meeting(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    meeting = await _completed(stack, headers, audio_dir, "result_ru.json")
    md = (await stack.client.get(f"/v1/meetings/{meeting.id}/export", headers=headers)).text
    assert "## Решения" in md and "Утвердить бюджет." in md
    docx = await stack.client.get(
        f"/v1/meetings/{meeting.id}/export", headers=headers, params={"format": "docx"}
    )
    text = "\n".join(p.text for p in Document(io.BytesIO(docx.content)).paragraphs)
    assert "Добрый день. Обсудим бюджет на следующий квартал." in text
    bad = await stack.client.get(
        f"/v1/meetings/{meeting.id}/export", headers=headers, params={"format": "pdf"}
    )
    assert bad.status_code == 422


async def test_delete_removes_rows_recording_and_vectors(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    settings = make_settings(backend, request, tmp_path)
    async with open_stack(settings) as stack:
        headers = await stack.tenant()
        meeting = await _completed(stack, headers, audio_dir)
        assert await stack.stored_bytes(meeting.audio_key) is not None

        response = await stack.client.delete(f"/v1/meetings/{meeting.id}", headers=headers)
        assert response.status_code == 204 and response.content == b""
        assert (
            await stack.client.get(f"/v1/meetings/{meeting.id}", headers=headers)
        ).status_code == 404
        assert await stack.stored_bytes(meeting.audio_key) is None
        await stack.ctx.relay.relay_once()
        # The vectors go by a durable command to the workers (applied: test_search.py).
        assert stack.broker.commands == [
            DeleteMeetingVectors(
                tenant_id=meeting.tenant_id,
                meeting_id=meeting.id,
                sent_at=stack.broker.commands[0].sent_at,
            )
        ]
        async with stack.ctx.sessionmaker() as session:
            assert await session.get(Meeting, meeting.id) is None
        # Events for a deleted meeting are dropped without error; a late completion (the worker
        # indexed it meanwhile) sends the vector deletion again.
        assert await stack.ctx.applier.apply(completed(meeting)) is False
        await stack.ctx.relay.relay_once()
        assert [c.kind for c in stack.broker.commands] == ["delete_meeting", "delete_meeting"]
        again = await stack.client.delete(f"/v1/meetings/{meeting.id}", headers=headers)
        assert again.status_code == 404
