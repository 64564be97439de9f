"""How many of a person's voiceprints the current speaker embedder can use, and how many are stale.

The worker keeps a print for every meeting a person was named in (by a person, by confirming a
proposal, or from the meeting platform); it is made in the embedder schema the meeting was
processed with (`Meeting.voiceprint_schema`, NULL for meetings completed before schemas were
recorded: GE2E).
Prints of another schema than the current one are never compared, so a person with only stale
prints is not recognised until named once in a newly processed meeting. Counted here from the
database: the prints themselves stay in the worker's vector store.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.db.models import Meeting, MeetingSpeaker, SpeakerSource

# The schema of prints made before schemas were recorded.
LEGACY_SCHEMA = "ge2e-256-v1"
# Speakers whose naming enrolled their voice (voice matches are never enrolled). NULL: named
# before sources were recorded (by a person, as a rule).
_ENROLLING = (
    SpeakerSource.user.value,
    SpeakerSource.proposal.value,
    SpeakerSource.platform.value,
)


@dataclass(frozen=True)
class VoiceprintCounts:
    current: int = 0
    stale: int = 0

    @property
    def recognisable(self) -> bool:
        """Later meetings can name the person by voice."""
        return self.current > 0


async def voiceprint_counts(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    current_schema: str,
    person_ids: list[uuid.UUID] | None = None,
) -> dict[uuid.UUID, VoiceprintCounts]:
    """Person id -> their prints of `current_schema` and of any other (persons with none are
    left out). `person_ids` narrows to those persons."""
    schema = func.coalesce(Meeting.voiceprint_schema, LEGACY_SCHEMA)
    query = (
        select(MeetingSpeaker.person_id, schema, func.count())
        .join(Meeting, Meeting.id == MeetingSpeaker.meeting_id)
        .where(
            Meeting.tenant_id == tenant_id,
            MeetingSpeaker.person_id.is_not(None),
            or_(MeetingSpeaker.source.is_(None), MeetingSpeaker.source.in_(_ENROLLING)),
        )
        .group_by(MeetingSpeaker.person_id, schema)
    )
    if person_ids is not None:
        query = query.where(MeetingSpeaker.person_id.in_(person_ids))
    counts: dict[uuid.UUID, VoiceprintCounts] = {}
    for person_id, made_in, n in (await session.execute(query)).all():
        if person_id is None:
            continue
        old = counts.get(person_id, VoiceprintCounts())
        if made_in == current_schema:
            counts[person_id] = VoiceprintCounts(old.current + int(n), old.stale)
        else:
            counts[person_id] = VoiceprintCounts(old.current, old.stale + int(n))
    return counts
