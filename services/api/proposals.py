"""Retroactive naming: "this earlier meeting's speaker sounds like <person>", for people to decide.

The worker sends `SpeakerMatches` after enrolling a named voice; they become open proposals here,
except for speakers that already have a person, meetings the person already speaks in, and
proposals made before (a rejected one is never made again). Nothing is renamed until a person
confirms: confirming names the speaker exactly as naming it by hand does (source "proposal") and
enrolls that voice too. Every query is scoped to one tenant.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import SpeakerMatches
from services.api.db.models import (
    Meeting,
    MeetingSpeaker,
    SpeakerProposal,
    SpeakerSource,
    utcnow,
)
from services.api.persons import enroll_voice, get_person, set_speaker


class ProposalState(StrEnum):
    open = "open"
    confirmed = "confirmed"
    rejected = "rejected"


class ProposalNotFoundError(LookupError):
    """No proposal of this id for this person of this tenant."""


class ProposalDecidedError(ValueError):
    """The proposal was already confirmed or rejected the other way."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class SpeakerNamedMeanwhileError(ValueError):
    """The proposed speaker was given another person since the proposal was made."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


async def store_matches(session: AsyncSession, event: SpeakerMatches) -> int:
    """Open a proposal per new match; returns how many. Applying the same event again adds
    nothing (the proposals exist), and a person deleted meanwhile gets none."""
    if await get_person(session, event.tenant_id, event.person_id) is None:
        return 0
    ids = {m.meeting_id for m in event.matches} - {event.meeting_id}
    if not ids:
        return 0
    # Only the tenant's meetings: the worker's tenant filter is trusted, but not blindly.
    mine = set(
        await session.scalars(
            select(Meeting.id).where(Meeting.tenant_id == event.tenant_id, Meeting.id.in_(ids))
        )
    )
    named = (
        await session.execute(
            select(MeetingSpeaker.meeting_id, MeetingSpeaker.label, MeetingSpeaker.person_id).where(
                MeetingSpeaker.meeting_id.in_(mine), MeetingSpeaker.person_id.is_not(None)
            )
        )
    ).all()
    has_person = {(m, label) for m, label, _ in named}
    # A person is one speaker per meeting: where they already speak, nothing is proposed.
    present = {m for m, _, person in named if person == event.person_id}
    made: set[tuple[uuid.UUID, str]] = {
        (meeting_id, label)
        for meeting_id, label in (
            await session.execute(
                select(SpeakerProposal.meeting_id, SpeakerProposal.label).where(
                    SpeakerProposal.person_id == event.person_id,
                    SpeakerProposal.meeting_id.in_(mine),
                )
            )
        ).all()
    }
    added = 0
    for match in event.matches:
        key = (match.meeting_id, match.label)
        if match.meeting_id not in mine or match.meeting_id in present:
            continue
        if key in has_person or key in made:
            continue
        session.add(
            SpeakerProposal(
                tenant_id=event.tenant_id,
                person_id=event.person_id,
                meeting_id=match.meeting_id,
                label=match.label,
                score=match.score,
                state=ProposalState.open.value,
            )
        )
        made.add(key)
        added += 1
    return added


async def open_proposals(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID
) -> list[tuple[SpeakerProposal, Meeting]]:
    """The person's open proposals whose speaker is still unnamed (with their meetings), best
    score first."""
    rows = await session.execute(
        select(SpeakerProposal, Meeting)
        .join(Meeting, Meeting.id == SpeakerProposal.meeting_id)
        .outerjoin(
            MeetingSpeaker,
            and_(
                MeetingSpeaker.meeting_id == SpeakerProposal.meeting_id,
                MeetingSpeaker.label == SpeakerProposal.label,
            ),
        )
        .where(
            SpeakerProposal.tenant_id == tenant_id,
            SpeakerProposal.person_id == person_id,
            SpeakerProposal.state == ProposalState.open.value,
            Meeting.tenant_id == tenant_id,
            MeetingSpeaker.person_id.is_(None),
        )
        .order_by(SpeakerProposal.score.desc(), SpeakerProposal.id)
    )
    return [(proposal, meeting) for proposal, meeting in rows.all()]


async def confirm(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, proposal_id: uuid.UUID
) -> SpeakerProposal:
    """Name the proposed speaker as the person and enroll that voice (both in the caller's
    transaction). Raises SpeakerNamedMeanwhileError when someone else was named there since."""
    proposal = await _proposal(session, tenant_id, person_id, proposal_id)
    if proposal.state == ProposalState.confirmed:
        return proposal
    if proposal.state != ProposalState.open:
        raise ProposalDecidedError(proposal.state)
    current = await session.get(
        MeetingSpeaker, (proposal.meeting_id, proposal.label), with_for_update=True
    )
    if current is not None and current.person_id not in (None, person_id):
        raise SpeakerNamedMeanwhileError(proposal.label)
    await set_speaker(
        session, proposal.meeting_id, proposal.label, person_id, source=SpeakerSource.proposal
    )
    enroll_voice(session, tenant_id, proposal.meeting_id, proposal.label, person_id)
    _decide(proposal, ProposalState.confirmed)
    return proposal


async def reject(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, proposal_id: uuid.UUID
) -> SpeakerProposal:
    """Remember the "no": this speaker is never proposed for this person again."""
    proposal = await _proposal(session, tenant_id, person_id, proposal_id)
    if proposal.state == ProposalState.confirmed:
        raise ProposalDecidedError(proposal.state)
    if proposal.state == ProposalState.open:
        _decide(proposal, ProposalState.rejected)
    return proposal


async def _proposal(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, proposal_id: uuid.UUID
) -> SpeakerProposal:
    found = (
        await session.scalars(
            select(SpeakerProposal)
            .where(
                SpeakerProposal.id == proposal_id,
                SpeakerProposal.tenant_id == tenant_id,
                SpeakerProposal.person_id == person_id,
            )
            .with_for_update()
        )
    ).first()
    if found is None:
        raise ProposalNotFoundError(str(proposal_id))
    return found


def _decide(proposal: SpeakerProposal, state: ProposalState) -> None:
    proposal.state = state.value
    proposal.decided_at = utcnow()


def first_turn(meeting: Meeting, label: str) -> float | None:
    """Seconds into the recording where `label` first speaks (None when it never does)."""
    for segment in (meeting.result or {}).get("segments", []):
        if segment.get("speaker") == label:
            start = segment.get("start")
            return float(start) if isinstance(start, int | float) else None
    return None
