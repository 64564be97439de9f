"""`/v1/persons`: the people a tenant named, recognised across meetings by their voices."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status

from core.contracts import DeletePerson, MergePersons
from services.api.db.models import Person
from services.api.deps import ContextDep, SessionDep, TenantDep
from services.api.errors import PERSON_ERRORS, http_errors
from services.api.lookups import person_of
from services.api.outbox import add_vector_command
from services.api.persons import (
    delete_person,
    list_persons,
    merge_person,
    rename_person,
)
from services.api.schemas import ErrorOut, PersonMerge, PersonOut, PersonPage, PersonRename

router = APIRouter(prefix="/v1/persons", tags=["persons"])

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such person for this tenant."},
}


def _out(person: Person, meetings: int = 0) -> PersonOut:
    return PersonOut(
        id=person.id, name=person.name, created_at=person.created_at, meetings=meetings
    )


@router.get("", summary="List the persons, by name", responses={**_AUTH_ERRORS})
async def list_all(session: SessionDep, tenant: TenantDep) -> PersonPage:
    rows = await list_persons(session, tenant.id)
    return PersonPage(items=[_out(person, meetings) for person, meetings in rows])


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
    person_id: uuid.UUID, body: PersonRename, session: SessionDep, tenant: TenantDep
) -> PersonOut:
    person = await person_of(session, tenant.id, person_id, for_update=True)
    async with http_errors(PERSON_ERRORS, on_error=session.rollback, name=body.name):
        await rename_person(session, person, body.name)
    await session.commit()
    rows = dict((p.id, n) for p, n in await list_persons(session, tenant.id))
    return _out(person, rows.get(person.id, 0))


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
    rows = dict((p.id, n) for p, n in await list_persons(session, tenant.id))
    return _out(target, rows.get(target.id, 0))


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
