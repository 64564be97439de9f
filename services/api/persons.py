"""Persons of a tenant and which meeting speakers they are; every query scoped to one tenant.

A person's name lives only here. Meeting results and the vector store hold person ids, so a
rename is one row; a merge or a deletion updates `meeting_speakers` here and sends a vector
command (through the outbox) for the voiceprints.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import EnrollSpeaker, ForgetSpeaker
from services.api.db.models import MeetingSpeaker, Person, SpeakerSource
from services.api.outbox import add_vector_command


class NameTakenError(ValueError):
    """Another person of the tenant already has this name."""


@dataclass(frozen=True)
class SpeakerIdentity:
    """Who a meeting's speaker label is, as the API shows it."""

    person_id: uuid.UUID | None
    name: str | None
    # Who gave the name (a SpeakerSource value); None when unnamed or recorded before sources.
    named_by: str | None = None


async def get_person(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, *, for_update: bool = False
) -> Person | None:
    query = select(Person).where(Person.id == person_id, Person.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def find_or_create_person(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> Person:
    """The tenant's person of this name (exact match), created if there is none."""
    query = select(Person).where(Person.tenant_id == tenant_id, Person.name == name)
    found = (await session.scalars(query)).first()
    if found is not None:
        return found
    person = Person(tenant_id=tenant_id, name=name)
    try:
        async with session.begin_nested():
            session.add(person)
    except IntegrityError:
        # Another request created the same name just now: use theirs.
        found = (await session.scalars(query)).first()
        if found is None:
            raise
        return found
    return person


async def list_persons(session: AsyncSession, tenant_id: uuid.UUID) -> list[tuple[Person, int]]:
    """Persons by name, each with the number of meetings they speak in."""
    meetings = (
        select(
            MeetingSpeaker.person_id,
            func.count(func.distinct(MeetingSpeaker.meeting_id)).label("meetings"),
        )
        .where(MeetingSpeaker.person_id.is_not(None))
        .group_by(MeetingSpeaker.person_id)
        .subquery()
    )
    rows = await session.execute(
        select(Person, func.coalesce(meetings.c.meetings, 0))
        .outerjoin(meetings, meetings.c.person_id == Person.id)
        .where(Person.tenant_id == tenant_id)
        .order_by(Person.name, Person.id)
    )
    return [(person, int(count)) for person, count in rows.all()]


async def rename_person(session: AsyncSession, person: Person, name: str) -> None:
    clash = (
        await session.scalars(
            select(Person.id).where(
                Person.tenant_id == person.tenant_id, Person.name == name, Person.id != person.id
            )
        )
    ).first()
    if clash is not None:
        raise NameTakenError(name)
    person.name = name
    try:
        await session.flush()
    except IntegrityError as exc:
        raise NameTakenError(name) from exc


async def merge_person(session: AsyncSession, source: Person, target: Person) -> int:
    """Every speaker of `source` becomes `target`'s; `source` is deleted. Returns speakers moved."""
    moved = await session.execute(
        update(MeetingSpeaker)
        .where(MeetingSpeaker.person_id == source.id)
        .values(person_id=target.id)
    )
    await session.delete(source)
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]


async def delete_person(session: AsyncSession, person: Person) -> int:
    """Deletes the person; their meeting speakers become unnamed. Returns speakers unnamed."""
    # Spelled out rather than left to ON DELETE SET NULL: SQLite enforces it only with a pragma.
    unnamed = await session.execute(
        update(MeetingSpeaker).where(MeetingSpeaker.person_id == person.id).values(person_id=None)
    )
    await session.delete(person)
    return int(unnamed.rowcount or 0)  # type: ignore[attr-defined]


async def set_speaker(
    session: AsyncSession,
    meeting_id: uuid.UUID,
    label: str,
    person_id: uuid.UUID | None,
    source: SpeakerSource = SpeakerSource.user,
) -> bool:
    """Records who the label is and who said so; True when that changed."""
    row = await session.get(MeetingSpeaker, (meeting_id, label), with_for_update=True)
    if row is None:
        session.add(
            MeetingSpeaker(
                meeting_id=meeting_id, label=label, person_id=person_id, source=source.value
            )
        )
        return True
    if row.person_id == person_id and row.source == source.value:
        return False
    row.person_id = person_id
    row.source = source.value
    return True


def enroll_voice(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    label: str,
    person_id: uuid.UUID,
) -> None:
    """The speaker's voiceprint in this meeting becomes the person's (a durable vector command,
    committed with the caller's transaction), so later meetings name them by voice."""
    add_vector_command(
        session,
        EnrollSpeaker(tenant_id=tenant_id, meeting_id=meeting_id, label=label, person_id=person_id),
    )


def forget_voice(
    session: AsyncSession, tenant_id: uuid.UUID, meeting_id: uuid.UUID, label: str
) -> None:
    """The speaker's voiceprint in this meeting belongs to nobody again (its name was cleared),
    so a wrongly given name stops naming that voice in later meetings."""
    add_vector_command(
        session, ForgetSpeaker(tenant_id=tenant_id, meeting_id=meeting_id, label=label)
    )


async def speaker_identities(
    session: AsyncSession, meeting_ids: Iterable[uuid.UUID]
) -> dict[tuple[uuid.UUID, str], SpeakerIdentity]:
    """(meeting id, label) -> who that speaker is, for the speakers with a recorded identity."""
    ids = list(set(meeting_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(
            MeetingSpeaker.meeting_id,
            MeetingSpeaker.label,
            Person.id,
            Person.name,
            MeetingSpeaker.source,
        )
        .outerjoin(Person, Person.id == MeetingSpeaker.person_id)
        .where(MeetingSpeaker.meeting_id.in_(ids))
    )
    return {
        # A cleared name has no giver: who cleared it is not what `named_by` tells.
        (meeting_id, label): SpeakerIdentity(person_id, name, source if person_id else None)
        for meeting_id, label, person_id, name, source in rows.all()
    }


async def known_persons(
    session: AsyncSession, tenant_id: uuid.UUID, person_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """The ids among `person_ids` that are persons of this tenant."""
    ids = list(set(person_ids))
    if not ids:
        return set()
    found = await session.scalars(
        select(Person.id).where(Person.tenant_id == tenant_id, Person.id.in_(ids))
    )
    return set(found)


async def persons_named(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> list[Person]:
    """The tenant's persons of this name, ignoring case."""
    found = await session.scalars(
        select(Person).where(
            Person.tenant_id == tenant_id, func.lower(Person.name) == name.strip().lower()
        )
    )
    return list(found)
