"""Naming speakers makes persons; persons are renamed, merged and deleted; every change to
voiceprints leaves as a durable vector command through the outbox."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.contracts import (
    DeleteMeetingVectors,
    DeletePerson,
    EnrollSpeaker,
    ForgetSpeaker,
    MergePersons,
)
from services.api.db.models import Meeting, OutboxVectorCommand
from tests.services.api.conftest import ApiStack
from tests.services.api.helpers import completed, sample_result

pytestmark = pytest.mark.anyio


async def _completed(
    stack: ApiStack, headers: dict[str, str], audio_dir: Path, result: dict[str, Any] | None = None
) -> Meeting:
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title="Planning")
    assert response.status_code == 202
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
        assert meeting is not None
    await stack.broker.deliver(completed(meeting, result or sample_result()))
    return meeting


async def _speakers(stack: ApiStack, headers: dict[str, str], meeting: Meeting) -> list[Any]:
    body = (await stack.client.get(f"/v1/meetings/{meeting.id}", headers=headers)).json()
    return [(s["id"], s["name"], s["person_id"]) for s in body["result"]["speakers"]]


async def _persons(stack: ApiStack, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await stack.client.get("/v1/persons", headers=headers)
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_naming_a_speaker_creates_the_person_and_enrolls_the_voice(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    first = await _completed(stack, headers, audio_dir)
    second = await _completed(stack, headers, audio_dir)

    named = await stack.client.patch(
        f"/v1/meetings/{first.id}/speakers/SPEAKER_01", headers=headers, json={"name": "Boris"}
    )
    assert named.status_code == 200, named.text
    boris = named.json()["person_id"]
    assert named.json() == {
        "id": "SPEAKER_01",
        "name": "Boris",
        "person_id": boris,
        "named_by": "user",
    }
    # The same name in another meeting is the same person.
    again = await stack.client.patch(
        f"/v1/meetings/{second.id}/speakers/SPEAKER_00", headers=headers, json={"name": "Boris"}
    )
    assert again.json()["person_id"] == boris
    assert await _speakers(stack, headers, first) == [
        ("SPEAKER_00", None, None),
        ("SPEAKER_01", "Boris", boris),
    ]
    (person,) = await _persons(stack, headers)
    assert (person["id"], person["name"], person["meetings"]) == (boris, "Boris", 2)

    # Enrolling the voices waits in the outbox until the broker confirms it.
    stack.broker.available = False
    assert await stack.ctx.relay.relay_once() == 0
    assert stack.broker.commands == []
    stack.broker.available = True
    await asyncio.sleep(0.1)  # the retry delay of the refused rows
    await stack.ctx.relay.relay_once()
    enrolls = [c for c in stack.broker.commands if isinstance(c, EnrollSpeaker)]
    assert [(c.meeting_id, c.label, str(c.person_id)) for c in enrolls] == [
        (first.id, "SPEAKER_01", boris),
        (second.id, "SPEAKER_00", boris),
    ]
    assert all(c.tenant_id == first.tenant_id for c in enrolls)

    cleared = await stack.client.patch(
        f"/v1/meetings/{first.id}/speakers/SPEAKER_01", headers=headers, json={"name": None}
    )
    assert cleared.json() == {"id": "SPEAKER_01", "name": None, "person_id": None, "named_by": None}
    assert (await _speakers(stack, headers, first))[1] == ("SPEAKER_01", None, None)
    # Clearing the name un-enrolls that voice, so it stops naming Boris elsewhere.
    await stack.ctx.relay.relay_once()
    forgets = [c for c in stack.broker.commands if isinstance(c, ForgetSpeaker)]
    assert [(c.tenant_id, c.meeting_id, c.label) for c in forgets] == [
        (first.tenant_id, first.id, "SPEAKER_01")
    ]


async def test_a_voice_recognised_by_the_worker_shows_the_persons_current_name(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    first = await _completed(stack, headers, audio_dir)
    anna = (
        await stack.client.patch(
            f"/v1/meetings/{first.id}/speakers/SPEAKER_00", headers=headers, json={"name": "Anna"}
        )
    ).json()["person_id"]
    # The worker recognised Anna's voice (and a person this tenant does not have).
    result = sample_result()
    result["speakers"] = [
        {"id": "SPEAKER_00", "name": None, "person_id": str(uuid.uuid4())},
        {"id": "SPEAKER_01", "name": None, "person_id": anna},
    ]
    result["voiceprints"] = {"SPEAKER_00": [0.1] * 4, "SPEAKER_01": [0.2] * 4}
    second = await _completed(stack, headers, audio_dir, result)
    assert await _speakers(stack, headers, second) == [
        ("SPEAKER_00", None, None),
        ("SPEAKER_01", "Anna", anna),
    ]
    async with stack.ctx.sessionmaker() as session:
        stored = await session.get(Meeting, second.id)
        assert stored is not None and stored.result is not None
        assert "voiceprints" not in stored.result  # biometric data stays in the vector store

    renamed = await stack.client.patch(
        f"/v1/persons/{anna}", headers=headers, json={"name": "Anna K."}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Anna K."
    assert (await _speakers(stack, headers, second))[1] == ("SPEAKER_01", "Anna K.", anna)
    md = await stack.client.get(f"/v1/meetings/{second.id}/export?format=md", headers=headers)
    assert "Anna K.:** I will write the migration guide" in md.text


async def test_merge_rename_clash_and_delete(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    meeting = await _completed(stack, headers, audio_dir)
    base = f"/v1/meetings/{meeting.id}/speakers"
    a = await stack.client.patch(f"{base}/SPEAKER_00", headers=headers, json={"name": "Ann"})
    b = await stack.client.patch(f"{base}/SPEAKER_01", headers=headers, json={"name": "Anna"})
    ann, anna = a.json()["person_id"], b.json()["person_id"]

    clash = await stack.client.patch(f"/v1/persons/{ann}", headers=headers, json={"name": "Anna"})
    assert clash.status_code == 409 and "merge" in clash.json()["detail"]
    assert (
        await stack.client.post(f"/v1/persons/{ann}/merge", headers=headers, json={"into": ann})
    ).status_code == 400

    merged = await stack.client.post(
        f"/v1/persons/{ann}/merge", headers=headers, json={"into": anna}
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == anna and merged.json()["meetings"] == 1
    assert await _speakers(stack, headers, meeting) == [
        ("SPEAKER_00", "Anna", anna),
        ("SPEAKER_01", "Anna", anna),
    ]
    assert [p["id"] for p in await _persons(stack, headers)] == [anna]
    gone = await stack.client.patch(f"/v1/persons/{ann}", headers=headers, json={"name": "X"})
    assert gone.status_code == 404

    deleted = await stack.client.delete(f"/v1/persons/{anna}", headers=headers)
    assert deleted.status_code == 204
    assert await _persons(stack, headers) == []
    assert await _speakers(stack, headers, meeting) == [
        ("SPEAKER_00", None, None),
        ("SPEAKER_01", None, None),
    ]
    assert (
        await stack.client.delete(f"/v1/meetings/{meeting.id}", headers=headers)
    ).status_code == 204

    await stack.ctx.relay.relay_once()
    kinds = [type(c) for c in stack.broker.commands]
    assert kinds == [EnrollSpeaker, EnrollSpeaker, MergePersons, DeletePerson, DeleteMeetingVectors]
    merge, delete, drop = stack.broker.commands[2:]
    assert isinstance(merge, MergePersons) and (str(merge.source_id), str(merge.target_id)) == (
        ann,
        anna,
    )
    assert isinstance(delete, DeletePerson) and str(delete.person_id) == anna
    assert isinstance(drop, DeleteMeetingVectors) and drop.meeting_id == meeting.id
    async with stack.ctx.sessionmaker() as session:
        rows = list(await session.scalars(select(OutboxVectorCommand)))
    assert rows and all(r.sent_at is not None for r in rows)


async def test_persons_belong_to_one_tenant(stack: ApiStack, audio_dir: Path) -> None:
    alice, mallory = await stack.tenant("alice"), await stack.tenant("mallory")
    meeting = await _completed(stack, alice, audio_dir)
    person = (
        await stack.client.patch(
            f"/v1/meetings/{meeting.id}/speakers/SPEAKER_00", headers=alice, json={"name": "Eve"}
        )
    ).json()["person_id"]
    mine = (
        await stack.client.patch(
            f"/v1/meetings/{(await _completed(stack, mallory, audio_dir)).id}/speakers/SPEAKER_00",
            headers=mallory,
            json={"name": "Eve"},
        )
    ).json()["person_id"]
    assert mine != person  # the same name in another tenant is another person
    assert [p["id"] for p in await _persons(stack, mallory)] == [mine]
    for response in (
        await stack.client.patch(f"/v1/persons/{person}", headers=mallory, json={"name": "M"}),
        await stack.client.delete(f"/v1/persons/{person}", headers=mallory),
        await stack.client.post(
            f"/v1/persons/{mine}/merge", headers=mallory, json={"into": person}
        ),
    ):
        assert response.status_code == 404
    assert [p["name"] for p in await _persons(stack, alice)] == ["Eve"]
