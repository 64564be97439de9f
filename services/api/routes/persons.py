"""`/v1/persons`: the people a tenant named, recognised across meetings by their voices."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import DeletePerson, MergePersons
from services.api.db.models import Meeting, Person, SpeakerProposal
from services.api.deps import ContextDep, SessionDep, TenantDep
from services.api.errors import PERSON_ERRORS, PROPOSAL_ERRORS, http_errors
from services.api.lookups import meeting_of, person_of
from services.api.outbox import add_vector_command
from services.api.persons import (
    delete_person,
    list_persons,
    merge_person,
    rename_person,
)
from services.api.proposals import confirm, first_turn, open_proposals, reject
from services.api.schemas import (
    ErrorOut,
    PersonMerge,
    PersonOut,
    PersonPage,
    PersonRename,
    ProposalOut,
    ProposalPage,
    VoiceprintsOut,
)
from services.api.voiceprints import VoiceprintCounts, voiceprint_counts

router = APIRouter(prefix="/v1/persons", tags=["persons"])

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such person for this tenant."},
}


_PROPOSAL_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such person, or no such proposal of theirs."},
    409: {
        "model": ErrorOut,
        "description": "The speaker was named as someone else meanwhile, or the proposal was "
        "decided the other way.",
    },
}


def _out(person: Person, meetings: int = 0, voices: VoiceprintCounts | None = None) -> PersonOut:
    voices = voices or VoiceprintCounts()
    return PersonOut(
        id=person.id,
        name=person.name,
        created_at=person.created_at,
        meetings=meetings,
        voiceprints=VoiceprintsOut(current=voices.current, stale=voices.stale),
        recognisable=voices.recognisable,
    )


async def _person_out(
    session: AsyncSession, ctx: ContextDep, tenant_id: uuid.UUID, person: Person
) -> PersonOut:
    rows = dict((p.id, n) for p, n in await list_persons(session, tenant_id))
    voices = await voiceprint_counts(
        session, tenant_id, ctx.settings.current_voiceprint_schema, [person.id]
    )
    return _out(person, rows.get(person.id, 0), voices.get(person.id))


@router.get("", summary="List the persons, by name", responses={**_AUTH_ERRORS})
async def list_all(session: SessionDep, tenant: TenantDep, ctx: ContextDep) -> PersonPage:
    rows = await list_persons(session, tenant.id)
    voices = await voiceprint_counts(session, tenant.id, ctx.settings.current_voiceprint_schema)
    return PersonPage(
        items=[_out(person, meetings, voices.get(person.id)) for person, meetings in rows]
    )


@router.get(
    "/{person_id}",
    summary="One person, with how many of their voiceprints the current embedder can use",
    responses={**_AUTH_ERRORS, **_NOT_FOUND},
)
async def get_one(
    person_id: uuid.UUID, session: SessionDep, tenant: TenantDep, ctx: ContextDep
) -> PersonOut:
    person = await person_of(session, tenant.id, person_id)
    return await _person_out(session, ctx, tenant.id, person)


def _proposal_out(proposal: SpeakerProposal, meeting: Meeting) -> ProposalOut:
    return ProposalOut(
        id=proposal.id,
        person_id=proposal.person_id,
        meeting_id=proposal.meeting_id,
        meeting_title=meeting.title,
        meeting_date=meeting.created_at,
        label=proposal.label,
        score=proposal.score,
        start=first_turn(meeting, proposal.label),
        state=proposal.state,
    )


async def _decide(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    proposal_id: uuid.UUID,
    decision: Callable[[AsyncSession, uuid.UUID, uuid.UUID, uuid.UUID], Awaitable[SpeakerProposal]],
) -> ProposalOut:
    """Confirm or reject one proposal of the person, committed; its errors as HTTP answers."""
    await person_of(session, tenant_id, person_id, for_update=True)
    async with http_errors(PROPOSAL_ERRORS, on_error=session.rollback):
        proposal = await decision(session, tenant_id, person_id, proposal_id)
    out = _proposal_out(proposal, await meeting_of(session, tenant_id, proposal.meeting_id))
    await session.commit()
    return out


@router.get(
    "/{person_id}/proposals",
    summary="Speakers of earlier meetings whose voice sounds like this person's (open ones)",
    responses={**_AUTH_ERRORS, **_NOT_FOUND},
)
async def list_proposals(
    person_id: uuid.UUID, session: SessionDep, tenant: TenantDep
) -> ProposalPage:
    """Made when the person is named in a meeting; nothing is renamed until confirmed."""
    await person_of(session, tenant.id, person_id)
    found = await open_proposals(session, tenant.id, person_id)
    return ProposalPage(items=[_proposal_out(proposal, meeting) for proposal, meeting in found])


@router.post(
    "/{person_id}/proposals/{proposal_id}/confirm",
    summary="Confirm a proposal: that speaker is named as this person and their voice enrolled",
    responses={**_AUTH_ERRORS, **_PROPOSAL_ERRORS},
)
async def confirm_proposal(
    person_id: uuid.UUID,
    proposal_id: uuid.UUID,
    session: SessionDep,
    tenant: TenantDep,
    ctx: ContextDep,
) -> ProposalOut:
    out = await _decide(session, tenant.id, person_id, proposal_id, confirm)
    ctx.relay.wake()  # the enrolment waits in the vector outbox
    return out


@router.post(
    "/{person_id}/proposals/{proposal_id}/reject",
    summary="Reject a proposal: that speaker is never proposed for this person again",
    responses={**_AUTH_ERRORS, **_PROPOSAL_ERRORS},
)
async def reject_proposal(
    person_id: uuid.UUID, proposal_id: uuid.UUID, session: SessionDep, tenant: TenantDep
) -> ProposalOut:
    return await _decide(session, tenant.id, person_id, proposal_id, reject)


@router.patch(
    "/{person_id}",
    summary="Rename a person (every meeting shows the new name)",
    responses={
        **_AUTH_ERRORS,
        **_NOT_FOUND,
        409: {"model": ErrorOut, "description": "Another person has this name; merge instead."},
    },
)
async def rename(
    person_id: uuid.UUID,
    body: PersonRename,
    session: SessionDep,
    tenant: TenantDep,
    ctx: ContextDep,
) -> PersonOut:
    person = await person_of(session, tenant.id, person_id, for_update=True)
    async with http_errors(PERSON_ERRORS, on_error=session.rollback, name=body.name):
        await rename_person(session, person, body.name)
    await session.commit()
    return await _person_out(session, ctx, tenant.id, person)


@router.post(
    "/{person_id}/merge",
    summary="Merge this person into another: their speakers and voices become the other's",
    responses={
        **_AUTH_ERRORS,
        **_NOT_FOUND,
        400: {"model": ErrorOut, "description": "A person cannot be merged into itself."},
    },
)
async def merge(
    person_id: uuid.UUID,
    body: PersonMerge,
    session: SessionDep,
    tenant: TenantDep,
    ctx: ContextDep,
) -> PersonOut:
    if body.into == person_id:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "A person cannot be merged into itself.")
    source = await person_of(session, tenant.id, person_id, for_update=True)
    target = await person_of(
        session,
        tenant.id,
        body.into,
        for_update=True,
        detail="No person with the id given in 'into'.",
    )
    await merge_person(session, source, target)
    add_vector_command(
        session, MergePersons(tenant_id=tenant.id, source_id=source.id, target_id=target.id)
    )
    await session.commit()
    ctx.relay.wake()
    return await _person_out(session, ctx, tenant.id, target)


@router.delete(
    "/{person_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a person and all their voiceprints; their speakers become unnamed",
    responses={**_AUTH_ERRORS, **_NOT_FOUND},
)
async def delete(
    person_id: uuid.UUID, session: SessionDep, tenant: TenantDep, ctx: ContextDep
) -> None:
    person = await person_of(session, tenant.id, person_id, for_update=True)
    await delete_person(session, person)
    add_vector_command(session, DeletePerson(tenant_id=tenant.id, person_id=person.id))
    await session.commit()
    ctx.relay.wake()
