"""A bot's recording with a speaking timeline, completed by the worker: its speakers are named
from the platform's display names (named_by "platform"), their voices enrolled through the
outbox; a person's own names win, and applying the completion again changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.contracts import EnrollSpeaker
from services.api.db.models import Meeting, OutboxVectorCommand, Person
from services.api.platform_naming import name_from_platform
from services.bots.contracts import ParticipantTimeline, SpeakingSpan
from tests.services.api.conftest import BACKENDS, ApiStack, make_settings, open_stack
from tests.services.api.helpers import completed, sample_result
from tests.services.bots.test_routes import arm

pytestmark = pytest.mark.anyio

# The sample result's turns: SPEAKER_00 0-6.2, 12.4-20.9, 61-95.4; SPEAKER_01 6.5-12, 21.3-30.
# The page's talking indicator, a little late; the bot's own tile lit up at the start.
TIMELINE = ParticipantTimeline(
    participants=["Minuta notetaker", "Alice", "Bob", "Carol"],
    speaking=[
        SpeakingSpan(name="Minuta notetaker", start=0.0, end=1.0),
        SpeakingSpan(name="Alice", start=0.3, end=6.4),
        SpeakingSpan(name="Bob", start=6.7, end=12.1),
        SpeakingSpan(name="Alice", start=12.6, end=21.0),
        SpeakingSpan(name="Bob", start=21.5, end=30.1),
        SpeakingSpan(name="Alice", start=61.2, end=95.0),
    ],
)


@pytest.fixture(params=BACKENDS)
async def unnamed(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiStack]:
    settings = make_settings(str(request.param), request, tmp_path, platform_naming=False)
    async with open_stack(settings) as opened:
        yield opened


async def _bot_meeting(stack: ApiStack, headers: dict[str, str], audio_dir: Path) -> Meeting:
    """A bot that recorded a meeting and uploaded it with TIMELINE; the queued meeting."""
    bot_id = (
        await stack.client.post(
            "/v1/bots", headers=headers, json={"meeting_url": "https://x.org/1", "title": "Sync"}
        )
    ).json()["id"]
    auth = await arm(stack, bot_id, state="uploading")
    with (audio_dir / "asr_en" / "jfk.flac").open("rb") as audio:
        uploaded = await stack.client.post(
            f"/v1/bots/{bot_id}/recording",
            headers=auth,
            files={"file": ("jfk.flac", audio, "application/octet-stream")},
            data={"timeline": TIMELINE.model_dump_json()},
        )
    assert uploaded.status_code == 200, uploaded.text
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(uploaded.json()["meeting_id"]))
    assert meeting is not None
    return meeting


async def _speakers(stack: ApiStack, headers: dict[str, str], meeting: Meeting) -> list[Any]:
    body = (await stack.client.get(f"/v1/meetings/{meeting.id}", headers=headers)).json()
    return [(s["id"], s["name"], s["named_by"]) for s in body["result"]["speakers"]]


async def _enrolled(stack: ApiStack) -> list[tuple[str, str]]:
    """(label, person id) of every EnrollSpeaker waiting in the vector outbox, in order."""
    async with stack.ctx.sessionmaker() as session:
        rows = await session.scalars(select(OutboxVectorCommand).order_by(OutboxVectorCommand.id))
        commands = [
            EnrollSpeaker.model_validate(r.body) for r in rows if r.kind == "enroll_speaker"
        ]
    return [(c.label, str(c.person_id)) for c in commands]


async def test_a_bot_meetings_speakers_get_the_platforms_names(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    meeting = await _bot_meeting(stack, headers, audio_dir)
    # The worker recognised SPEAKER_01's voice as Robert, a person the tenant named before.
    robert = uuid.uuid4()
    async with stack.ctx.sessionmaker() as session, session.begin():
        session.add(Person(id=robert, tenant_id=meeting.tenant_id, name="Robert"))
    result = sample_result()
    result["speakers"][1]["person_id"] = str(robert)
    event = completed(meeting, result)
    await stack.broker.deliver(event)

    # Alice by the platform; Bob too: the platform saw him talking the whole time, which
    # outweighs a voice similarity. The bot's own name and silent Carol are given to nobody.
    assert await _speakers(stack, headers, meeting) == [
        ("SPEAKER_00", "Alice", "platform"),
        ("SPEAKER_01", "Bob", "platform"),
    ]
    listed = (await stack.client.get("/v1/persons", headers=headers)).json()["items"]
    persons = {p["name"]: p["id"] for p in listed}
    assert set(persons) == {"Alice", "Bob", "Robert"}
    # A platform name enrolls the voice: it counts as one of the person's voiceprints.
    prints = {p["name"]: p["voiceprints"] for p in listed}
    assert sum(prints["Alice"].values()) == 1 and sum(prints["Bob"].values()) == 1
    enrolled = [("SPEAKER_00", persons["Alice"]), ("SPEAKER_01", persons["Bob"])]
    assert await _enrolled(stack) == enrolled

    # The same completion again (a redelivery) changes nothing, nor does naming again.
    await stack.broker.deliver(event)
    async with stack.ctx.sessionmaker() as session, session.begin():
        stored = await session.get(Meeting, meeting.id)
        assert stored is not None
        assert await name_from_platform(session, stored) == []
    assert await _enrolled(stack) == enrolled

    # A person's own name wins from then on, and a cleared one stays cleared.
    renamed = await stack.client.patch(
        f"/v1/meetings/{meeting.id}/speakers/SPEAKER_00", headers=headers, json={"name": "Alicia"}
    )
    assert renamed.json()["named_by"] == "user"
    cleared = await stack.client.patch(
        f"/v1/meetings/{meeting.id}/speakers/SPEAKER_01", headers=headers, json={"name": None}
    )
    assert cleared.json() == {"id": "SPEAKER_01", "name": None, "person_id": None, "named_by": None}
    async with stack.ctx.sessionmaker() as session, session.begin():
        stored = await session.get(Meeting, meeting.id)
        assert stored is not None
        assert await name_from_platform(session, stored) == []
    assert await _speakers(stack, headers, meeting) == [
        ("SPEAKER_00", "Alicia", "user"),
        ("SPEAKER_01", None, None),
    ]


async def test_platform_naming_can_be_turned_off(unnamed: ApiStack, audio_dir: Path) -> None:
    headers = await unnamed.tenant()
    meeting = await _bot_meeting(unnamed, headers, audio_dir)
    await unnamed.broker.deliver(completed(meeting))
    assert await _speakers(unnamed, headers, meeting) == [
        ("SPEAKER_00", None, None),
        ("SPEAKER_01", None, None),
    ]
    assert await _enrolled(unnamed) == []
