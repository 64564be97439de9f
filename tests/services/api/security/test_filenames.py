"""Hostile upload file names and meeting titles: labels only, never paths, keys or header breaks."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest

from services.api.security.filenames import (
    MAX_NAME_CHARS,
    content_disposition,
    safe_display_name,
)
from services.api.storage.s3 import S3Storage
from tests.services.api.conftest import ApiStack

pytestmark = pytest.mark.anyio

HOSTILE = [
    "../../etc/passwd",
    "/etc/passwd",
    "C:\\Windows\\system32\\evil.wav",
    "..\\..\\boot.ini",
    "rec\x00ording.wav",
    "rec\r\nX-Injected: 1.wav",
    "bell\x07\x1b[31mred.wav",
    "invoice\u202egnp.exe",  # shows as "invoiceexe.png"
    "zero\u200bwidth.wav",
    "x" * 1000 + ".wav",
    "..",
    "...",
    ".",
    '"quoted";name=.wav',
]
KEY = re.compile(r"tenants/[0-9a-f-]{36}/meetings/[0-9a-f-]{36}/audio")
INVISIBLE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("raw", HOSTILE)
def test_display_names_lose_paths_controls_and_bidi(raw: str) -> None:
    name = safe_display_name(raw)
    assert name and len(name) <= MAX_NAME_CHARS
    assert "/" not in name and "\\" not in name and name.strip(".")
    assert not INVISIBLE.search(name)
    header = content_disposition(raw, fallback="meeting-1")
    header.encode("latin-1")  # a valid header value, whatever the name
    assert "\r" not in header and "\n" not in header
    plain = re.fullmatch(
        r'attachment; filename="([^"\\]*)"(?:; filename\*=UTF-8\'\'(\S+))?', header
    )
    assert plain is not None, header
    if plain.group(2):
        assert unquote(plain.group(2)) == name


def test_names_keep_what_is_harmless() -> None:
    assert safe_display_name("Планёрка 12.03.m4a") == "Планёрка 12.03.m4a"
    assert safe_display_name("x" * 1000 + ".wav").endswith("x.wav")
    assert safe_display_name("...") == "recording"
    header = content_disposition("Планёрка.md", fallback="meeting-42")
    assert header.startswith("attachment; filename=\"meeting-42.md\"; filename*=UTF-8''")
    assert unquote(header.split("''", 1)[1]) == "Планёрка.md"


def _raw_multipart(filename: bytes, content: bytes) -> tuple[str, bytes]:
    """The form exactly as a hostile client could send it (no client-side escaping)."""
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: audio/flac\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


async def _stored_keys(stack: ApiStack) -> list[str]:
    storage = stack.ctx.storage
    if isinstance(storage, S3Storage):
        listed = await asyncio.to_thread(
            storage._client.list_objects_v2,
            Bucket=storage.bucket,
            Prefix=stack.settings.s3_key_prefix,
        )
        prefix = len(stack.settings.s3_key_prefix)
        return [o["Key"][prefix:] for o in listed.get("Contents", [])]
    root = stack.settings.storage_dir
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]


async def test_hostile_upload_names_are_labels_and_keys_come_from_ids(
    stack: ApiStack, audio_dir: Path, tmp_path: Path
) -> None:
    headers = await stack.tenant()
    flac = (audio_dir / "asr_en" / "jfk.flac").read_bytes()
    names = {}
    for raw in HOSTILE:
        content_type, body = _raw_multipart(raw.encode("utf-8"), flac)
        answer = await stack.client.post(
            "/v1/meetings", headers={**headers, "Content-Type": content_type}, content=body
        )
        assert answer.status_code == 202, (raw, answer.status_code)
        name = names[raw] = answer.json()["audio"]["filename"]
        # Raw CR/LF and quotes end the header early; what is left is still only a label.
        assert name and len(name) <= MAX_NAME_CHARS and name.strip("."), raw
        assert "/" not in name and "\\" not in name and not INVISIBLE.search(name), raw
    assert names["../../etc/passwd"] == "passwd"
    assert names["invoice\u202egnp.exe"] == "invoicegnp.exe"
    assert names["..."] == "recording"
    assert names["x" * 1000 + ".wav"] == "x" * (MAX_NAME_CHARS - 4) + ".wav"
    assert names["C:\\Windows\\system32\\evil.wav"] == "evil.wav"

    keys = await _stored_keys(stack)
    assert len(keys) == len(HOSTILE)
    assert all(KEY.fullmatch(k) for k in keys), keys
    # Nothing was written beside or above the store.
    assert not (tmp_path / "etc").exists() and not Path("/etc/passwd.partial").exists()
    listed = await stack.client.get("/v1/meetings", headers=headers, params={"limit": 100})
    for meeting in listed.json()["items"]:
        assert not INVISIBLE.search(meeting["audio"]["filename"])


async def test_export_headers_are_safe_for_any_title(stack: ApiStack, audio_dir: Path) -> None:
    from sqlalchemy import update

    from services.api.db.models import Meeting
    from tests.services.api.helpers import completed

    headers = await stack.tenant()
    uploaded = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    meeting_id = uuid.UUID(uploaded.json()["id"])
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
    await stack.broker.deliver(completed(meeting))
    for title in ('../../x"\r\nX-Injected: 1', "Планёрка\u202e", "..", "a" * 500):
        async with stack.ctx.sessionmaker() as session, session.begin():
            await session.execute(
                update(Meeting).where(Meeting.id == meeting_id).values(title=title)
            )
        answer = await stack.client.get(f"/v1/meetings/{meeting_id}/export", headers=headers)
        assert answer.status_code == 200, title
        disposition = answer.headers["content-disposition"]
        assert "x-injected" not in answer.headers
        plain = re.search(r'filename="([^"]*)"', disposition)
        assert plain is not None and re.fullmatch(r"[A-Za-z0-9._-]+\.md", plain.group(1))
        assert "/" not in unquote(disposition) and "\u202e" not in unquote(disposition)
