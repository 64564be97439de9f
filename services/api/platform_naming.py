"""A bot-recorded meeting's speakers named from the platform's display names, once it completes.

The rules, in one place:
- only clear matches (services/api/roster_naming.py), only to labels of the stored result;
- a name a person gave (source "user", "proposal", or a row from before sources were recorded)
  is never overridden, nor is an earlier platform name (a person may have removed it since);
- a voice match from the worker is replaced only when the platform disagrees decisively
  (OVERRIDE_SHARE of the label's overlapped time): the platform saw who was talking, the voice
  match is a similarity threshold; an agreeing voice match stays "voice";
- a person already naming another label of this meeting is not given a second one;
- each new name enrolls the voice (EnrollSpeaker through the outbox), as a manual naming does.
Applying it again changes nothing: every label it named is then a platform row.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.results import MeetingResult
from services.api.db.models import Bot, Meeting, MeetingSpeaker, Person, SpeakerSource
from services.api.meetings import stored_result
from services.api.persons import enroll_voice, find_or_create_person, set_speaker
from services.api.roster_naming import RosterMatch, match_roster
from services.bots.contracts import ParticipantTimeline

log = logging.getLogger(__name__)

# The share of a label's overlapped time the platform needs to replace a voice match.
OVERRIDE_SHARE = 0.8


async def meeting_timeline(
    session: AsyncSession, meeting: Meeting
) -> tuple[ParticipantTimeline, str] | None:
    """The speaking timeline the meeting's bot uploaded, with the bot's own name."""
    bot = (
        await session.scalars(
            select(Bot).where(Bot.meeting_id == meeting.id, Bot.tenant_id == meeting.tenant_id)
        )
    ).first()
    if bot is None or not bot.timeline:
        return None
    try:
        return ParticipantTimeline.model_validate(bot.timeline), bot.bot_name
    except ValidationError:
        log.warning("bot %s has an unreadable timeline: no platform names", bot.id)
        return None


def _may_name(row: MeetingSpeaker | None, current: Person | None, match: RosterMatch) -> bool:
    if row is None:
        return True
    if row.source != SpeakerSource.voice:
        return False  # a person's name, an earlier platform name, or a pre-sources row
    agrees = current is not None and current.name.casefold() == match.name.casefold()
    return not agrees and match.share >= OVERRIDE_SHARE


async def name_from_platform(
    session: AsyncSession, meeting: Meeting, result: MeetingResult | None = None
) -> list[RosterMatch]:
    """Names the completed meeting's speakers from its bot's timeline; the matches applied.
    `result` is the meeting's (the stored one when not given)."""
    # The bot first: most meetings are uploads, and their results need not be parsed again.
    found = await meeting_timeline(session, meeting)
    if found is None:
        return []
    result = result or stored_result(meeting)
    if result is None:
        return []
    timeline, bot_name = found
    labels = {speaker.id for speaker in result.speakers}
    await session.flush()  # the completion's voice rows, so they are read below
    rows = {
        row.label: row
        for row in await session.scalars(
            select(MeetingSpeaker).where(MeetingSpeaker.meeting_id == meeting.id)
        )
    }
    persons = {
        person.id: person
        for person in await session.scalars(
            select(Person).where(
                Person.id.in_([r.person_id for r in rows.values() if r.person_id is not None])
            )
        )
    }
    applied: list[RosterMatch] = []
    for match in match_roster(result.segments, timeline, bot_name):
        row = rows.get(match.label)
        current = persons.get(row.person_id) if row and row.person_id else None
        if match.label not in labels or not _may_name(row, current, match):
            continue
        person = await find_or_create_person(session, meeting.tenant_id, match.name)
        if any(r.person_id == person.id and r.label != match.label for r in rows.values()):
            continue
        if await set_speaker(session, meeting.id, match.label, person.id, SpeakerSource.platform):
            enroll_voice(session, meeting.tenant_id, meeting.id, match.label, person.id)
            applied.append(match)
    if applied:
        log.info("named %d of %d speakers from the platform", len(applied), len(labels))
    return applied
