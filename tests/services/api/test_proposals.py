"""Retroactive naming through the API: the worker's speaker matches become proposals, a person
confirms (the speaker is named, source "proposal", and the voice enrolled) or rejects (never
proposed again); nothing is renamed on its own, and another tenant sees none of it. Then the
persons' voiceprint counts: current ones and stale ones of an older embedder."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.contracts import EnrollSpeaker, ProposedSpeaker, SpeakerMatches
from services.api.db.models import Meeting, MeetingSpeaker, SpeakerProposal
from tests.services.api.conftest import ApiStack
from tests.services.api.helpers import completed, sample_result

pytestmark = pytest.mark.anyio


async def _completed(
    stack: ApiStack,
    headers: dict[str, str],
    audio_dir: Path,
    title: str,
    schema: str | None = "campplus-192-v1",
) -> Meeting:
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title=title)
    assert response.status_code == 202, response.text
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
        assert meeting is not None
    result = sample_result()
    result["speaker_embedding_schema"] = schema
    await stack.broker.deliver(completed(meeting, result))
    return meeting


async def _name(
    stack: ApiStack, headers: dict[str, str], meeting: Meeting, label: str, name: str
) -> str:
    named = await stack.client.patch(
        f"/v1/meetings/{meeting.id}/speakers/{label}", headers=headers, json={"name": name}
    )
    assert named.status_code == 200, named.text
    return str(named.json()["person_id"])


def _matches(named: Meeting, person: str, *found: tuple[uuid.UUID, str, float]) -> SpeakerMatches:
    return SpeakerMatches(
        tenant_id=named.tenant_id,
        person_id=uuid.UUID(person),
        meeting_id=named.id,
        label="SPEAKER_01",
        matches=[ProposedSpeaker(meeting_id=m, label=label, score=s) for m, label, s in found],
    )


async def _open(stack: ApiStack, headers: dict[str, str], person: str) -> list[dict[str, Any]]:
    answer = await stack.client.get(f"/v1/persons/{person}/proposals", headers=headers)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _speaker(
    stack: ApiStack, headers: dict[str, str], meeting: Meeting, label: str
) -> dict[str, Any]:
    body = (await stack.client.get(f"/v1/meetings/{meeting.id}", headers=headers)).json()
    return next(s for s in body["result"]["speakers"] if s["id"] == label)


async def _enrolls(stack: ApiStack) -> list[tuple[uuid.UUID, str, str]]:
    await stack.ctx.relay.relay_once()
    return [
        (c.meeting_id, c.label, str(c.person_id))
        for c in stack.broker.commands
        if isinstance(c, EnrollSpeaker)
    ]


async def test_matches_are_proposed_then_confirmed_or_rejected_never_applied_alone(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant("a")
    named = await _completed(stack, headers, audio_dir, "Kick-off")
    earlier = await _completed(stack, headers, audio_dir, "Budget")
    older = await _completed(stack, headers, audio_dir, "Hiring")
    boris = await _name(stack, headers, named, "SPEAKER_01", "Boris")
    other_tenant = await _completed(stack, await stack.tenant("b"), audio_dir, "Theirs")

    event = _matches(
        named,
        boris,
        (earlier.id, "SPEAKER_00", 0.81),
        (older.id, "SPEAKER_01", 0.72),
        (named.id, "SPEAKER_00", 0.9),  # where he was named: never proposed
        (other_tenant.id, "SPEAKER_00", 0.95),  # another tenant's meeting: never proposed
        (uuid.uuid4(), "SPEAKER_00", 0.99),  # a meeting deleted since
    )
    await stack.broker.deliver(event)
    await stack.broker.deliver(event)  # delivered twice: nothing more
    proposals = await _open(stack, headers, boris)
    assert [(p["meeting_id"], p["label"], p["meeting_title"]) for p in proposals] == [
        (str(earlier.id), "SPEAKER_00", "Budget"),
        (str(older.id), "SPEAKER_01", "Hiring"),
    ]
    assert proposals[0]["score"] == pytest.approx(0.81)
    assert proposals[0]["start"] == 0.0 and proposals[1]["start"] == 6.5
    assert all(p["state"] == "open" for p in proposals)
    # Nothing was renamed by the proposals alone.
    assert (await _speaker(stack, headers, earlier, "SPEAKER_00"))["name"] is None
    async with stack.ctx.sessionmaker() as session:
        rows = (await session.scalars(select(SpeakerProposal))).all()
        assert len(rows) == 2

    before = len(await _enrolls(stack))
    confirm = proposals[0]["id"]
    confirmed = await stack.client.post(
        f"/v1/persons/{boris}/proposals/{confirm}/confirm", headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "confirmed"
    speaker = await _speaker(stack, headers, earlier, "SPEAKER_00")
    assert (speaker["name"], speaker["person_id"], speaker["named_by"]) == (
        "Boris",
        boris,
        "proposal",
    )
    enrolls = await _enrolls(stack)
    assert enrolls[before:] == [(earlier.id, "SPEAKER_00", boris)]
    # Confirming again is harmless.
    again = await stack.client.post(
        f"/v1/persons/{boris}/proposals/{confirm}/confirm", headers=headers
    )
    assert again.status_code == 200

    rejected = await stack.client.post(
        f"/v1/persons/{boris}/proposals/{proposals[1]['id']}/reject", headers=headers
    )
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected"
    assert (await _speaker(stack, headers, older, "SPEAKER_01"))["name"] is None
    # The worker proposes the same speakers again (Boris named once more): a "no" is remembered,
    # and a confirmed speaker has its person.
    await stack.broker.deliver(event)
    assert await _open(stack, headers, boris) == []
    undo = await stack.client.post(
        f"/v1/persons/{boris}/proposals/{confirm}/reject", headers=headers
    )
    assert undo.status_code == 409


async def test_a_speaker_named_meanwhile_is_not_renamed(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant("a")
    named = await _completed(stack, headers, audio_dir, "Kick-off")
    earlier = await _completed(stack, headers, audio_dir, "Budget")
    boris = await _name(stack, headers, named, "SPEAKER_01", "Boris")
    await stack.broker.deliver(_matches(named, boris, (earlier.id, "SPEAKER_00", 0.7)))
    (proposal,) = await _open(stack, headers, boris)

    anna = await _name(stack, headers, earlier, "SPEAKER_00", "Anna")
    assert await _open(stack, headers, boris) == []  # no longer offered
    answer = await stack.client.post(
        f"/v1/persons/{boris}/proposals/{proposal['id']}/confirm", headers=headers
    )
    assert answer.status_code == 409
    assert "named as someone else" in answer.json()["detail"]
    speaker = await _speaker(stack, headers, earlier, "SPEAKER_00")
    assert (speaker["person_id"], speaker["named_by"]) == (anna, "user")


async def test_another_tenant_cannot_see_or_decide_the_proposals(
    stack: ApiStack, audio_dir: Path
) -> None:
    a = await stack.tenant("a")
    b = await stack.tenant("b")
    named = await _completed(stack, a, audio_dir, "Kick-off")
    earlier = await _completed(stack, a, audio_dir, "Budget")
    boris = await _name(stack, a, named, "SPEAKER_01", "Boris")
    await stack.broker.deliver(_matches(named, boris, (earlier.id, "SPEAKER_00", 0.7)))
    (proposal,) = await _open(stack, a, boris)
    b_meeting = await _completed(stack, b, audio_dir, "B's")
    b_person = await _name(stack, b, b_meeting, "SPEAKER_00", "Eve")

    assert (await stack.client.get(f"/v1/persons/{boris}/proposals", headers=b)).status_code == 404
    for action in ("confirm", "reject"):
        for person in (boris, b_person):  # A's person, and B's own with A's proposal id
            answer = await stack.client.post(
                f"/v1/persons/{person}/proposals/{proposal['id']}/{action}", headers=b
            )
            assert answer.status_code == 404, (action, person, answer.text)
    # B's worker cannot make proposals about A's meetings either.
    await stack.broker.deliver(
        SpeakerMatches(
            tenant_id=b_meeting.tenant_id,
            person_id=uuid.UUID(b_person),
            meeting_id=b_meeting.id,
            label="SPEAKER_00",
            matches=[ProposedSpeaker(meeting_id=earlier.id, label="SPEAKER_01", score=0.9)],
        )
    )
    assert await _open(stack, b, b_person) == []
    assert [p["id"] for p in await _open(stack, a, boris)] == [proposal["id"]]
    async with stack.ctx.sessionmaker() as session:
        row = await session.get(MeetingSpeaker, (earlier.id, "SPEAKER_00"))
        assert row is None


async def test_persons_show_current_and_stale_voiceprints(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant("a")
    legacy = await _completed(stack, headers, audio_dir, "2025", schema=None)
    legacy_too = await _completed(stack, headers, audio_dir, "2025 b", schema=None)
    current = await _completed(stack, headers, audio_dir, "2026")
    async with stack.ctx.sessionmaker() as session:
        stored = await session.get(Meeting, current.id)
        assert stored is not None and stored.voiceprint_schema == "campplus-192-v1"
        old_row = await session.get(Meeting, legacy.id)
        assert old_row is not None and old_row.voiceprint_schema is None

    olga = await _name(stack, headers, legacy, "SPEAKER_00", "Olga")
    await _name(stack, headers, legacy_too, "SPEAKER_00", "Olga")
    nick = await _name(stack, headers, legacy, "SPEAKER_01", "Nick")
    await _name(stack, headers, current, "SPEAKER_01", "Nick")

    answer = await stack.client.get("/v1/persons", headers=headers)
    assert answer.status_code == 200
    persons = {p["name"]: p for p in answer.json()["items"]}
    assert persons["Olga"]["voiceprints"] == {"current": 0, "stale": 2}
    assert persons["Olga"]["recognisable"] is False
    assert persons["Nick"]["voiceprints"] == {"current": 1, "stale": 1}
    assert persons["Nick"]["recognisable"] is True

    one = await stack.client.get(f"/v1/persons/{olga}", headers=headers)
    assert one.status_code == 200
    assert (one.json()["id"], one.json()["meetings"], one.json()["recognisable"]) == (
        olga,
        2,
        False,
    )
    assert (await stack.client.get(f"/v1/persons/{nick}", headers=headers)).json()[
        "voiceprints"
    ] == {"current": 1, "stale": 1}
    other = await stack.tenant("b")
    assert (await stack.client.get(f"/v1/persons/{olga}", headers=other)).status_code == 404
