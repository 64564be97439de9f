"""POST /v1/meetings: streamed to storage, sniffed, limited, and queued atomically."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.api.db.models import Meeting, OutboxJob
from services.api.meetings import audio_key
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.api.helpers import count_rows, multipart_stream, wav_chunks, write_noise_wav

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


async def _objects(stack: ApiStack) -> list[str]:
    """Every object key the test's storage holds (in-flight multipart uploads included)."""
    settings = stack.settings
    if settings.uses_s3:
        storage: Any = stack.ctx.storage
        listed = await asyncio.to_thread(
            storage._client.list_objects_v2, Bucket=storage.bucket, Prefix=settings.s3_key_prefix
        )
        uploads = await asyncio.to_thread(
            storage._client.list_multipart_uploads,
            Bucket=storage.bucket,
            Prefix=settings.s3_key_prefix,
        )
        return [o["Key"] for o in listed.get("Contents", [])] + [
            f"multipart:{u['Key']}" for u in uploads.get("Uploads", [])
        ]
    root = settings.storage_dir
    return (
        [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()] if root.exists() else []
    )


async def test_upload_stores_the_recording_and_queues_the_job_with_the_meeting(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    flac = audio_dir / "asr_en" / "jfk.flac"
    response = await stack.upload(
        headers, flac, title="JFK", language="en", min_speakers=1, max_speakers=2
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["title"] == "JFK"
    assert body["language"] == "en"
    assert body["speakers_hint"] == {"num_speakers": None, "min_speakers": 1, "max_speakers": 2}
    assert body["audio"] == {
        "filename": "jfk.flac",
        "size": flac.stat().st_size,
        "content_type": "audio/flac",
        "deleted_at": None,
    }
    assert body["result"] is None and body["error"] is None

    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(body["id"]))
        assert meeting is not None
        outbox = list(await session.scalars(select(OutboxJob)))
    assert len(outbox) == 1
    assert outbox[0].job_id == meeting.job_id and outbox[0].meeting_id == meeting.id
    assert outbox[0].sent_at is None
    assert await stack.stored_bytes(meeting.audio_key) == flac.read_bytes()
    assert stack.broker.published == []  # published by the relay, not by the request


async def test_meeting_and_outbox_row_commit_together_or_not_at_all(
    stack: ApiStack, audio_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = await stack.tenant()

    def broken_outbox_row(**kwargs: Any) -> OutboxJob:
        return OutboxJob(**{**kwargs, "job_id": None})  # NOT NULL: the commit fails

    monkeypatch.setattr("services.api.intake.OutboxJob", broken_outbox_row)
    with pytest.raises(IntegrityError):
        await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    async with stack.ctx.sessionmaker() as session:
        assert await count_rows(session) == (0, 0)
    assert await _objects(stack) == []  # the stored recording was removed again


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_upload_over_the_limit_is_413_and_leaves_nothing(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    declared: bool,
) -> None:
    # Above one S3 part, so the limit strikes after a multipart upload has begun.
    settings = make_settings(backend, request, tmp_path, max_upload_bytes=6 * MIB)
    async with open_stack(settings) as stack:
        headers = await stack.tenant()
        if declared:
            big = write_noise_wav(tmp_path / "big.wav", 8 * MIB)
            response = await stack.upload(headers, big)
        else:
            content_type, body = multipart_stream({"title": "big"}, "big.wav", wav_chunks(8 * MIB))
            response = await stack.client.post(
                "/v1/meetings", headers={**headers, "Content-Type": content_type}, content=body
            )
        assert response.status_code == 413
        detail = response.json()["detail"]
        assert "larger than the limit of 6 MiB" in detail
        async with stack.ctx.sessionmaker() as session:
            assert await count_rows(session) == (0, 0)
        assert await _objects(stack) == []


async def test_text_file_named_wav_is_415_with_a_readable_reason(
    stack: ApiStack, tmp_path: Path
) -> None:
    headers = await stack.tenant()
    fake = tmp_path / "meeting.wav"
    fake.write_text("Minutes of the meeting\nAnna: hello\nBoris: hi\n" * 50)
    response = await stack.upload(headers, fake)
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert "not a recording" in detail and "looks like text" in detail
    assert "WAV, FLAC, MP3" in detail  # says what would be accepted
    assert await _objects(stack) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(2000), "a PNG image"),
        (b"%PDF-1.7\n" + bytes(2000), "a PDF document"),
        (bytes(range(256)) * 8, "data of an unknown kind"),
        (b"", "The uploaded file is empty"),
    ],
)
async def test_other_non_audio_is_415(
    stack: ApiStack, tmp_path: Path, content: bytes, expected: str
) -> None:
    headers = await stack.tenant()
    path = tmp_path / "recording.mp3"
    path.write_bytes(content)
    response = await stack.upload(headers, path)
    assert response.status_code == 415
    assert expected in response.json()["detail"]


async def test_form_errors_are_4xx_with_messages(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    flac = audio_dir / "asr_en" / "jfk.flac"

    no_file = await stack.client.post("/v1/meetings", headers=headers, files={"title": (None, "x")})
    assert no_file.status_code == 400
    assert "no 'file' field" in no_file.json()["detail"]

    not_multipart = await stack.client.post("/v1/meetings", headers=headers, json={"a": 1})
    assert not_multipart.status_code == 415
    assert "multipart/form-data" in not_multipart.json()["detail"]

    bad_hints = await stack.upload(headers, flac, min_speakers=3, max_speakers=2)
    assert bad_hints.status_code == 422
    assert "min_speakers must not be greater" in bad_hints.text

    bad_language = await stack.upload(headers, flac, language="English please")
    assert bad_language.status_code == 422
    assert bad_language.json()["detail"][0]["loc"] == ["body", "language"]

    unknown = await stack.upload(headers, flac, colour="blue")
    assert unknown.status_code == 422

    async with stack.ctx.sessionmaker() as session:
        assert await count_rows(session) == (0, 0)
    assert await _objects(stack) == []


async def test_fields_after_the_file_are_read_too(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    boundary = "b0undary"
    flac = (audio_dir / "asr_en" / "jfk.flac").read_bytes()
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.flac"\r\n\r\n'
    ).encode()
    body += flac
    body += (
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nAfter\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    response = await stack.client.post(
        "/v1/meetings",
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert response.status_code == 202, response.text
    assert response.json()["title"] == "After"

    # A wrong field after the file: the stored recording is removed again.
    bad = body.replace(b'name="title"\r\n\r\nAfter', b'name="num_speakers"\r\n\r\nmany')
    response = await stack.client.post(
        "/v1/meetings",
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=bad,
    )
    assert response.status_code == 422
    assert len(await _objects(stack)) == 1


async def test_a_cut_off_upload_is_400_and_leaves_nothing(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    boundary = "cutoff"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.flac"\r\n\r\n'
    ).encode() + (audio_dir / "asr_en" / "jfk.flac").read_bytes()[:100_000]
    response = await stack.client.post(
        "/v1/meetings",
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert response.status_code == 400
    assert "ended before the file was complete" in response.json()["detail"]
    assert await _objects(stack) == []
    async with stack.ctx.sessionmaker() as session:
        assert await count_rows(session) == (0, 0)


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
async def test_a_50_mb_upload_streams_in_parts_without_holding_the_file(
    stack: ApiStack, tmp_path: Path
) -> None:
    size = 50 * MIB
    big = write_noise_wav(tmp_path / "long.wav", size)
    headers = await stack.tenant()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        response = await stack.upload(headers, big, title="long")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 202, response.text
    growth = peak - before
    # One 5 MiB S3 part in hand plus chunks in flight; nowhere near the 50 MiB file.
    assert growth < 16 * MIB, f"peak memory grew by {growth / MIB:.1f} MiB"

    meeting_id = response.json()["id"]
    storage: Any = stack.ctx.storage
    key = stack.settings.s3_key_prefix + audio_key(
        (await _tenant_of(stack, meeting_id)), meeting_id
    )
    head = await asyncio.to_thread(storage._client.head_object, Bucket=storage.bucket, Key=key)
    assert head["ContentLength"] == size
    assert head["ETag"].strip('"').endswith("-10")  # ten 5 MiB parts: uploaded as it arrived


async def _tenant_of(stack: ApiStack, meeting_id: str) -> Any:
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(meeting_id))
        assert meeting is not None
        return meeting.tenant_id


async def test_only_the_base_name_of_the_client_filename_is_kept(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    flac = audio_dir / "asr_en" / "jfk.flac"
    for sent in ("../../etc/jfk.flac", "C:\\Users\\anna\\jfk.flac"):
        response = await stack.upload(headers, flac, filename=sent)
        assert response.json()["audio"]["filename"] == "jfk.flac"
