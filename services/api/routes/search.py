"""`/v1/search`: passages of a tenant's meetings by meaning, answered by an ML worker over RPC.

The API holds no vectors: it asks a worker (`SEARCH_RPC_QUEUE`) and waits at most
`search_timeout_seconds`. The tenant is always the caller's, never a parameter. Speaker names
are the API's (persons), so hits are named here from the meetings' current speakers.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from core.contracts import SEARCH_RPC_QUEUE, SearchReply, SearchRequest, parse_search_reply
from services.api.db.models import Meeting
from services.api.deps import ContextDep, SessionDep, TenantDep
from services.api.errors import SEARCH_ERRORS, http_errors
from services.api.persons import persons_named, speaker_identities
from services.api.schemas import ErrorOut, SearchHitOut, SearchOut

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/search", tags=["search"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
    502: {"model": ErrorOut, "description": "The ML worker failed to answer the search."},
    503: {"model": ErrorOut, "description": "No ML worker answered in time; retry later."},
}


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def _ask(ctx: ContextDep, request: SearchRequest) -> SearchReply:
    timeout = ctx.settings.search_timeout_seconds
    async with http_errors(SEARCH_ERRORS, log=log, timeout=timeout):
        body = await ctx.broker.rpc_call(
            SEARCH_RPC_QUEUE, request.model_dump_json().encode(), timeout=timeout
        )
        return parse_search_reply(body)


@router.get("", summary="Search all meetings by meaning, in any language", responses=_ERRORS)
async def search(
    ctx: ContextDep,
    session: SessionDep,
    tenant: TenantDep,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for.")],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    meeting_id: Annotated[
        list[uuid.UUID] | None, Query(description="Only these meetings (repeatable).")
    ] = None,
    speaker: Annotated[
        str | None,
        Query(
            max_length=200,
            # No NUL: the name is looked up in PostgreSQL, which refuses one (a 500 before).
            pattern=r"^[^\x00]*$",
            description="Only passages of this person (by name) or label.",
        ),
    ] = None,
    date_from: Annotated[datetime | None, Query(description="Meetings from this time.")] = None,
    date_to: Annotated[datetime | None, Query(description="Meetings up to this time.")] = None,
) -> SearchOut:
    """Passages (transcript stretches and minutes) closest in meaning to `q`, best first."""
    person_id: uuid.UUID | None = None
    label: str | None = None
    if speaker:
        named = await persons_named(session, tenant.id, speaker)
        exact = [p for p in named if p.name == speaker.strip()]
        if named:
            person_id = (exact or named)[0].id
        else:
            label = speaker.strip()
    await session.commit()  # hold no transaction while a worker searches
    reply = await _ask(
        ctx,
        SearchRequest(
            tenant_id=tenant.id,
            query=q,
            limit=limit,
            meeting_ids=meeting_id or None,
            speaker=label,
            person_id=person_id,
            date_from=_aware(date_from),
            date_to=_aware(date_to),
        ),
    )
    found = {hit.meeting_id for hit in reply.hits}
    # A meeting deleted a moment ago may still have vectors until its command is applied.
    existing = set(
        await session.scalars(
            select(Meeting.id).where(Meeting.tenant_id == tenant.id, Meeting.id.in_(found))
        )
    )
    identities = await speaker_identities(session, existing)
    await session.commit()
    hits: list[SearchHitOut] = []
    for hit in reply.hits:
        if hit.meeting_id not in existing:
            continue
        identity = identities.get((hit.meeting_id, hit.speaker or ""))
        name = identity.name if identity is not None else None
        hits.append(
            SearchHitOut(
                meeting_id=hit.meeting_id,
                start=hit.start,
                end=hit.end,
                speaker=name or hit.speaker,
                text=hit.text,
                score=hit.score,
                kind=hit.kind,
            )
        )
    return SearchOut(hits=hits)
