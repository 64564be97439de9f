"""Broker messages across a rolling upgrade: what the previous version sent is still read."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from core.contracts import (
    CONTRACT_VERSION,
    JobCompleted,
    JobProgress,
    ProcessMeetingJob,
    SpeakerHints,
    UnknownContractError,
    parse_event,
    parse_job,
)
from core.results import MeetingResult

# A job_completed exactly as a version-1 worker published it (JobCompleted.model_dump_json() of
# that code, indented here for reading): the result a plain dict that still held the speakers'
# voiceprints and their schema.
V1_JOB_COMPLETED = b"""
{
  "version": 1,
  "sent_at": "2026-11-30T09:15:02.417305Z",
  "kind": "job_completed",
  "job_id": "8f0c2a1e-2b7d-4f4e-9a55-0d8b1f6c3e21",
  "meeting_id": "5b7e9d40-61a2-4c3f-8e1b-2f9a7c6d4e10",
  "tenant_id": "c3d2e1f0-a9b8-4c7d-8e6f-5a4b3c2d1e0f",
  "result": {
    "audio": {
      "duration": 12.48,
      "language": "en",
      "language_probability": 0.97,
      "source": "standup.wav"
    },
    "speakers": [
      {"id": "S1", "name": null, "person_id": "0d6c3b8a-7e52-4f19-b3a4-6c2e8f1d9a07"},
      {"id": "S2", "name": null, "person_id": null}
    ],
    "segments": [
      {
        "start": 0.0,
        "end": 4.1,
        "speaker": "S1",
        "text": "Morning.",
        "words": [
          {
            "start": 0.0,
            "end": 0.6,
            "word": " Morning.",
            "probability": 0.93,
            "speaker": "S1"
          }
        ]
      },
      {
        "start": 4.5,
        "end": 12.48,
        "speaker": "S2",
        "text": "The release is on Monday.",
        "words": []
      }
    ],
    "topics": [{"start": 0.0, "end": 12.48, "title": "Release", "summary": "Monday."}],
    "minutes": {
      "language": "en",
      "title": "Stand-up",
      "summary": "The release is on Monday.",
      "topics": [],
      "decisions": ["Release on Monday."],
      "action_items": [
        {
          "owner": "S2",
          "task": "Tag the release",
          "due": "Monday",
          "evidence": {"start": 4.5, "end": 12.48}
        }
      ]
    },
    "timings": {"decode": 0.05, "transcription": 1.9},
    "voiceprints": {
      "S1": [0.6, 0.8, 0.0],
      "S2": [0.0, 0.6, 0.8]
    },
    "voiceprint_schema": "campplus-192-v1"
  }
}
"""


def test_a_queued_v1_completion_is_read_as_the_typed_result_without_voiceprints() -> None:
    event = parse_event(V1_JOB_COMPLETED)

    assert isinstance(event, JobCompleted)
    assert event.version == 1
    assert event.job_id == uuid.UUID("8f0c2a1e-2b7d-4f4e-9a55-0d8b1f6c3e21")
    result = event.result
    assert isinstance(result, MeetingResult)
    assert result.audio.duration == 12.48 and result.audio.source == "standup.wav"
    assert [s.person_id for s in result.speakers] == [
        "0d6c3b8a-7e52-4f19-b3a4-6c2e8f1d9a07",
        None,
    ]
    assert result.segments[0].words[0].word == " Morning."
    assert result.minutes.action_items[0].evidence.start == 4.5
    assert result.timings == {"decode": 0.05, "transcription": 1.9}
    # The biometric part is gone from every view of the result.
    dumped = event.model_dump_json()
    assert "voiceprint" not in dumped and "0.6, 0.8" not in dumped
    assert "voiceprint" not in str(result.model_dump())


def test_a_completion_is_sent_as_v2_and_reads_back_equal() -> None:
    event = parse_event(V1_JOB_COMPLETED)
    assert isinstance(event, JobCompleted)
    sent = JobCompleted(
        job_id=event.job_id,
        meeting_id=event.meeting_id,
        tenant_id=event.tenant_id,
        result=event.result,
    )
    assert sent.version == CONTRACT_VERSION == 2
    assert parse_event(sent.model_dump_json().encode()) == sent


def test_unchanged_messages_are_still_sent_as_v1_for_workers_not_yet_upgraded() -> None:
    job = ProcessMeetingJob(
        job_id=uuid.uuid4(),
        meeting_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        audio_url="http://x/a.wav",
    )
    progress = JobProgress(
        job_id=job.job_id,
        meeting_id=job.meeting_id,
        tenant_id=job.tenant_id,
        stage="decode",
        fraction=0.5,
    )
    assert job.version == progress.version == 1


def test_versions_no_message_had_are_refused() -> None:
    future = V1_JOB_COMPLETED.replace(b'"version": 1', b'"version": 3')
    with pytest.raises(UnknownContractError, match="not a v1 job event nor a v2 job_completed"):
        parse_event(future)
    progress = (
        b'{"version": 2, "kind": "job_progress", "stage": "decode", "fraction": 0.1,'
        b' "job_id": "%s", "meeting_id": "%s", "tenant_id": "%s"}'
    ) % tuple(str(uuid.uuid4()).encode() for _ in range(3))
    with pytest.raises(UnknownContractError):
        parse_event(progress)


def test_a_queued_v1_job_carries_its_speaker_hints() -> None:
    body = (
        b'{"version": 1, "kind": "process_meeting", "job_id": "%s", "meeting_id": "%s",'
        b' "tenant_id": "%s", "audio_url": "http://store/a", "speakers":'
        b' {"num_speakers": null, "min_speakers": 2, "max_speakers": 4}}'
    ) % tuple(str(uuid.uuid4()).encode() for _ in range(3))
    job = parse_job(body)
    assert job.speakers == SpeakerHints(min_speakers=2, max_speakers=4)
    assert job.speakers.bounds() == (2, 4)


def test_speaker_hints_bounds_and_consistency() -> None:
    assert SpeakerHints(num_speakers=3, min_speakers=1).bounds() == (3, 3)
    assert SpeakerHints(min_speakers=10).bounds(default_max=8) == (10, 10)
    assert SpeakerHints().bounds(default_max=8) == (1, 8)
    with pytest.raises(ValidationError, match="min_speakers must not be greater than max"):
        SpeakerHints(min_speakers=4, max_speakers=2)
    with pytest.raises(ValidationError, match="num_speakers must lie between"):
        SpeakerHints(num_speakers=5, max_speakers=4)
    with pytest.raises(ValidationError, match="less than or equal to 64"):
        SpeakerHints(num_speakers=65)
