"""Bot rows: tenant-scoped queries and the changes the API makes to them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.db.models import Bot, utcnow
from services.bots.calendar_import import CalendarEvent
from services.bots.contracts import BotEvent, BotState
from services.bots.platforms import detect_platform
from services.bots.transitions import Transition, check_transition

# A scheduled bot cancelled by its tenant: no failure of the bot or the meeting.
CANCELLED = "cancelled"
DEFAULT_BOT_NAME = "Minuta notetaker"
DEFAULT_MAX_DURATION = 3 * 3600.0


@dataclass(frozen=True)
class NewBot:
    meeting_url: str
    join_at: datetime | None = None
    bot_name: str = DEFAULT_BOT_NAME
    max_duration: float = DEFAULT_MAX_DURATION
    title: str = ""
    calendar_key: str | None = None


def new_bot_row(tenant_id: uuid.UUID, wanted: NewBot) -> Bot:
    now = utcnow()
    return Bot(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        meeting_url=wanted.meeting_url,
        bot_name=wanted.bot_name,
        join_at=wanted.join_at or now,
        max_duration=wanted.max_duration,
        state=BotState.scheduled.value,
        platform=detect_platform(wanted.meeting_url),
        leave_requested=False,
        title=wanted.title,
        calendar_key=wanted.calendar_key,
        created_at=now,
        updated_at=now,
    )


async def get_bot(
    session: AsyncSession, tenant_id: uuid.UUID, bot_id: uuid.UUID, *, for_update: bool = False
) -> Bot | None:
    """The tenant's bot; another tenant's is None, exactly like a missing one."""
    query = select(Bot).where(Bot.id == bot_id, Bot.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def get_bot_any_tenant(
    session: AsyncSession, bot_id: uuid.UUID, *, for_update: bool = False
) -> Bot | None:
    """For the bot's own callbacks, which authenticate with the bot's token, not a tenant key."""
    query = select(Bot).where(Bot.id == bot_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


async def list_bots(session: AsyncSession, tenant_id: uuid.UUID, *, limit: int) -> list[Bot]:
    query = (
        select(Bot)
        .where(Bot.tenant_id == tenant_id)
        .order_by(Bot.created_at.desc(), Bot.id.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


def request_leave(bot: Bot) -> None:
    """A scheduled bot is cancelled; a running one is told to leave at its next heartbeat."""
    if bot.state == BotState.scheduled.value:
        bot.state = BotState.failed.value
        bot.reason = CANCELLED
        bot.detail = "cancelled before it joined"
    elif bot.state not in (BotState.done.value, BotState.failed.value):
        bot.leave_requested = True
    bot.updated_at = utcnow()


def apply_event(bot: Bot, event: BotEvent) -> Transition:
    """Move the bot to the event's state when that is legal; the row is changed in place."""
    verdict = check_transition(BotState(bot.state), event.state)
    if not verdict.allowed or verdict.repeated:
        return verdict
    if event.state == BotState.done and bot.meeting_id is None:
        return Transition(False, why="a bot is done only once its recording is uploaded")
    bot.state = event.state.value
    if event.state == BotState.failed:
        bot.reason = event.reason.value if event.reason else None
    if event.detail is not None:
        bot.detail = event.detail[:2000]
    bot.updated_at = utcnow()
    return verdict


@dataclass
class CalendarOutcome:
    created: list[Bot] = field(default_factory=list)
    updated: list[Bot] = field(default_factory=list)
    unchanged: list[Bot] = field(default_factory=list)
    # (event key, summary, why no bot)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)


async def import_calendar(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    events: list[CalendarEvent],
    *,
    bot_name: str,
    max_duration: float,
    now: datetime,
    max_new: int | None = None,
) -> CalendarOutcome:
    """One bot per event key: a second import changes nothing, a moved or cancelled event
    moves or cancels its bot while it is still scheduled. At most `max_new` new bots (the
    tenant's quota); the events beyond are skipped, saying so."""
    outcome = CalendarOutcome()
    keys = [e.key for e in events if e.key]
    existing = {
        bot.calendar_key: bot
        for bot in await session.scalars(
            select(Bot).where(Bot.tenant_id == tenant_id, Bot.calendar_key.in_(keys))
        )
    }
    seen: set[str] = set()
    for event in events:
        if event.key in seen:
            outcome.skipped.append((event.key, event.summary, "a repeated UID in this file"))
            continue
        seen.add(event.key)
        bot = existing.get(event.key)
        if event.problem is not None or event.start is None or event.meeting_url is None:
            outcome.skipped.append((event.key, event.summary, event.problem or "no start"))
            continue
        if bot is not None:
            _update_from_event(bot, event, outcome)
            continue
        if event.cancelled:
            outcome.skipped.append((event.key, event.summary, "the event is cancelled"))
            continue
        ends = event.end or event.start + timedelta(seconds=max_duration)
        if ends <= now:
            outcome.skipped.append((event.key, event.summary, "the event is over"))
            continue
        if max_new is not None and len(outcome.created) >= max_new:
            why = "the tenant's quota of scheduled bots is reached (MINUTA_QUOTA_BOTS_PENDING)"
            outcome.skipped.append((event.key, event.summary, why))
            continue
        bot = new_bot_row(
            tenant_id,
            NewBot(
                meeting_url=event.meeting_url,
                join_at=event.start,
                bot_name=bot_name,
                max_duration=max_duration,
                title=event.summary,
                calendar_key=event.key,
            ),
        )
        session.add(bot)
        outcome.created.append(bot)
    return outcome


def _update_from_event(bot: Bot, event: CalendarEvent, outcome: CalendarOutcome) -> None:
    assert event.start is not None and event.meeting_url is not None
    if bot.state != BotState.scheduled.value:
        outcome.unchanged.append(bot)  # already running or finished: the calendar is history
        return
    if event.cancelled:
        request_leave(bot)
        bot.detail = "the calendar event was cancelled"
        outcome.updated.append(bot)
        return
    if bot.join_at == event.start and bot.meeting_url == event.meeting_url:
        outcome.unchanged.append(bot)
        return
    bot.join_at = event.start
    bot.meeting_url = event.meeting_url
    bot.platform = detect_platform(event.meeting_url)
    bot.title = event.summary
    bot.updated_at = utcnow()
    outcome.updated.append(bot)
