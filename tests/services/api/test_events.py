"""Job events applied to meetings: idempotent, monotonic, terminal states final; live SSE."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.contracts import FailureKind, JobCompleted, JobFailed, parse_event
from services.api.db.models import AppliedEvent, Meeting
from tests.services.api.conftest import ApiStack
from tests.services.api.helpers import completed, progress, sample_result

pytestmark = pytest.mark.anyio


class RecordingWebhooksFake:
    def __init__(self) -> None:
        self.fired: list[tuple[uuid.UUID, str]] = []

    def fire(self, tenant_id: uuid.UUID, event: object, data: object) -> None:
        self.fired.append((tenant_id, str(event)))


async def _meeting(stack: ApiStack, audio_dir: Path) -> tuple[Meeting, dict[str, str]]:
    headers = await stack.tenant()
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    assert response.status_code == 202
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
        assert meeting is not None
        return meeting, headers


def _failed(
    meeting: Meeting, *, will_retry: bool, reason: str = "the audio is corrupt"
) -> JobFailed:
    return JobFailed(
        job_id=meeting.job_id,
        meeting_id=meeting.id,
        tenant_id=meeting.tenant_id,
        failure=FailureKind.transient if will_retry else FailureKind.bad_input,
        reason=reason,
        will_retry=will_retry,
    )


async def _state(stack: ApiStack, meeting: Meeting, headers: dict[str, str]) -> dict[str, object]:
    response = await stack.client.get(f"/v1/meetings/{meeting.id}", headers=headers)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_progress_is_monotonic_and_duplicates_change_nothing(
    stack: ApiStack, audio_dir: Path
) -> None:
    meeting, headers = await _meeting(stack, audio_dir)
    apply = stack.ctx.applier.apply

    assert await apply(progress(meeting, "asr", 0.5)) is True
    assert await apply(progress(meeting, "asr", 0.5)) is False  # redelivered
    assert await apply(progress(meeting, "asr", 0.25)) is False  # out of order
    assert await apply(progress(meeting, "diarization", 0.1)) is True
    state = await _state(stack, meeting, headers)
    assert state["status"] == "processing"
    assert state["progress"] == {"asr": 0.5, "diarization": 0.1}


async def test_completion_applies_once_and_late_events_never_undo_it(
    stack: ApiStack, audio_dir: Path
) -> None:
    meeting, headers = await _meeting(stack, audio_dir)
    hooks = RecordingWebhooksFake()
    stack.ctx.applier._webhooks = hooks
    apply = stack.ctx.applier.apply

    await apply(progress(meeting, "asr", 0.9))
    assert await apply(completed(meeting)) is True
    first = await _state(stack, meeting, headers)

    # Redelivery, a late progress event, a late failure of the same job: all ignored.
    assert await apply(completed(meeting, {**sample_result(), "timings": {"x": 1.0}})) is False
    assert await apply(progress(meeting, "minutes", 0.3)) is False
    assert await apply(_failed(meeting, will_retry=False)) is False
    assert await apply(_failed(meeting, will_retry=True)) is False
    # Through the broker handler too (what a redelivered message goes through).
    await stack.broker.deliver(completed(meeting))

    final = await _state(stack, meeting, headers)
    assert final == first
    assert final["status"] == "completed" and final["error"] is None
    assert final["progress"] == {"asr": 1.0}
    assert final["result"]["minutes"]["title"] == "Weekly release planning"  # type: ignore[index]
    assert hooks.fired == [(meeting.tenant_id, "meeting.completed")]
    async with stack.ctx.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(AppliedEvent)) == 1


async def test_a_v1_completion_still_queued_is_stored_without_voiceprints(
    stack: ApiStack, audio_dir: Path
) -> None:
    # What a worker of the previous version sent: the result a dict holding the voiceprints.
    meeting, headers = await _meeting(stack, audio_dir)
    v1 = {
        "version": 1,
        "kind": "job_completed",
        "job_id": str(meeting.job_id),
        "meeting_id": str(meeting.id),
        "tenant_id": str(meeting.tenant_id),
        "result": {
            **sample_result(),
            "voiceprints": {"SPEAKER_00": [0.6, 0.8], "SPEAKER_01": [0.8, 0.6]},
            "voiceprint_schema": "campplus-192-v1",
        },
    }
    event = parse_event(json.dumps(v1).encode())
    assert isinstance(event, JobCompleted)
    assert await stack.ctx.applier.apply(event) is True
    state = await _state(stack, meeting, headers)
    assert state["status"] == "completed"
    assert "voiceprint" not in json.dumps(state)
    async with stack.ctx.sessionmaker() as session:
        stored = await session.get(Meeting, meeting.id)
        assert stored is not None and stored.result is not None
        assert not {"voiceprints", "voiceprint_schema"} & set(stored.result)
        assert stored.result["minutes"] == sample_result()["minutes"]


async def test_transient_failure_keeps_processing_final_failure_is_terminal(
    stack: ApiStack, audio_dir: Path
) -> None:
    meeting, headers = await _meeting(stack, audio_dir)
    hooks = RecordingWebhooksFake()
    stack.ctx.applier._webhooks = hooks
    apply = stack.ctx.applier.apply

    await apply(progress(meeting, "decode", 1.0))
    assert await apply(_failed(meeting, will_retry=True, reason="worker lost")) is True
    assert await apply(_failed(meeting, will_retry=True, reason="worker lost")) is False
    state = await _state(stack, meeting, headers)
    assert state["status"] == "processing"
    assert "Retrying" in str(state["error"])
    assert hooks.fired == []

    reason = "The file could not be decoded as audio: invalid data found"
    assert await apply(_failed(meeting, will_retry=False, reason=reason)) is True
    assert await apply(_failed(meeting, will_retry=False, reason=reason)) is False
    assert await apply(progress(meeting, "asr", 0.1)) is False
    state = await _state(stack, meeting, headers)
    assert state["status"] == "failed" and state["error"] == reason
    assert state["completed_at"] is not None
    assert hooks.fired == [(meeting.tenant_id, "meeting.failed")]

    export = await stack.client.get(f"/v1/meetings/{meeting.id}/export", headers=headers)
    assert export.status_code == 409
    assert reason in export.json()["detail"]


async def test_events_of_other_jobs_or_unknown_meetings_are_ignored(
    stack: ApiStack, audio_dir: Path
) -> None:
    meeting, headers = await _meeting(stack, audio_dir)
    stale = progress(meeting, "asr", 0.5).model_copy(update={"job_id": uuid.uuid4()})
    unknown = progress(meeting, "asr", 0.5).model_copy(update={"meeting_id": uuid.uuid4()})
    other_tenant = progress(meeting, "asr", 0.5).model_copy(update={"tenant_id": uuid.uuid4()})
    for event in (stale, unknown, other_tenant):
        assert await stack.ctx.applier.apply(event) is False
    assert (await _state(stack, meeting, headers))["status"] == "queued"


async def test_concurrent_duplicate_completions_apply_once(
    stack: ApiStack, audio_dir: Path
) -> None:
    meeting, _ = await _meeting(stack, audio_dir)
    hooks = RecordingWebhooksFake()
    stack.ctx.applier._webhooks = hooks
    outcomes = await asyncio.gather(
        *(stack.ctx.applier.apply(completed(meeting)) for _ in range(5))
    )
    assert sorted(outcomes) == [False, False, False, False, True]
    assert len(hooks.fired) == 1


def _sse_events(body: str) -> list[dict[str, object]]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in body.splitlines()
        if line.startswith("data: ")
    ]


async def test_server_sent_events_follow_progress_until_completed(
    stack: ApiStack, audio_dir: Path
) -> None:
    meeting, headers = await _meeting(stack, audio_dir)
    url = f"/v1/meetings/{meeting.id}/events"
    stream = asyncio.create_task(stack.client.get(url, headers=headers, timeout=30))
    await asyncio.sleep(0.3)
    for fraction in (0.2, 0.6):
        await stack.broker.deliver(progress(meeting, "asr", fraction))
        await asyncio.sleep(0.3)
    await stack.broker.deliver(completed(meeting))
    response = await asyncio.wait_for(stream, 30)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse_events(response.text)
    statuses = [e["status"] for e in events]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    middle = events[1:-1]
    # One event per change; a busy machine may fold two quick changes into one.
    assert middle and all(e["status"] == "processing" for e in middle)
    fractions = [e["progress"]["asr"] for e in middle]  # type: ignore[index]
    assert fractions == sorted(fractions) and fractions[-1] == 0.6
    assert all(e["id"] == str(meeting.id) for e in events)


async def test_server_sent_events_of_a_finished_meeting_end_at_once(
    stack: ApiStack, audio_dir: Path
) -> None:
    meeting, headers = await _meeting(stack, audio_dir)
    await stack.broker.deliver(_failed(meeting, will_retry=False))
    response = await stack.client.get(f"/v1/meetings/{meeting.id}/events", headers=headers)
    events = _sse_events(response.text)
    assert len(events) == 1 and events[0]["status"] == "failed"
    assert events[0]["error"] == "the audio is corrupt"
