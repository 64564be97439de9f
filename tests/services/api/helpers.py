"""Small builders for API tests: streamed multipart bodies, synthetic WAV files, results."""

from __future__ import annotations

import json
import os
import struct
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from core.contracts import JobCompleted, JobProgress
from core.results import MeetingResult
from services.api.db.models import Meeting, OutboxJob
from services.api.settings import ApiSettings

DATA = Path(__file__).resolve().parent / "data"


def settings_from(**values: Any) -> ApiSettings:
    """Settings from these values only (no .env file; MINUTA_* variables still apply)."""
    return ApiSettings(_env_file=None, **values)  # type: ignore[call-arg]


def multipart_stream(
    fields: dict[str, str], filename: str, chunks: Iterable[bytes], field: str = "file"
) -> tuple[str, AsyncIterator[bytes]]:
    """A multipart body sent chunk by chunk without a Content-Length (as a proxy might)."""
    boundary = uuid.uuid4().hex

    async def body() -> AsyncIterator[bytes]:
        for name, value in fields.items():
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        for chunk in chunks:
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


def wav_header(data_bytes: int, rate: int = 16000) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def write_noise_wav(path: Path, size: int) -> Path:
    """A valid 16 kHz mono WAV of about `size` bytes (random samples), written in pieces."""
    data_bytes = size - 44
    with path.open("wb") as out:
        out.write(wav_header(data_bytes))
        left = data_bytes
        while left:
            piece = min(left, 1 << 20)
            out.write(os.urandom(piece))
            left -= piece
    return path


def wav_chunks(size: int, chunk: int = 64 * 1024) -> Iterable[bytes]:
    yield wav_header(size - 44)
    left = size - 44
    while left:
        piece = min(left, chunk)
        yield bytes(piece)
        left -= piece


def sample_result(name: str = "result_en.json") -> dict[str, Any]:
    """A small hand-written MeetingResult JSON (for format rendering, not quality)."""
    loaded: dict[str, Any] = json.loads((DATA / name).read_text())
    return loaded


async def count_rows(session: Any) -> tuple[int, int]:
    meetings = await session.scalar(select(func.count()).select_from(Meeting))
    outbox = await session.scalar(select(func.count()).select_from(OutboxJob))
    return int(meetings), int(outbox)


def progress(meeting: Meeting, stage: str, fraction: float) -> JobProgress:
    return JobProgress(
        job_id=meeting.job_id,
        meeting_id=meeting.id,
        tenant_id=meeting.tenant_id,
        stage=stage,
        fraction=fraction,
    )


def completed(meeting: Meeting, result: dict[str, Any] | None = None) -> JobCompleted:
    """The worker's completion of the meeting's job; `result` as JSON (the sample by default)."""
    return JobCompleted(
        job_id=meeting.job_id,
        meeting_id=meeting.id,
        tenant_id=meeting.tenant_id,
        result=MeetingResult.model_validate(result if result is not None else sample_result()),
    )
