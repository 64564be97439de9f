"""`/v1/bots`: meeting bots for tenants (create, list, read, leave, calendar import) and the
bot's own callbacks (events, heartbeat, recording), which authenticate with the bot's token."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import replace
from functools import partial
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.db.models import Bot, Meeting, utcnow
from services.api.deps import ContextDep, SessionDep, TenantDep
from services.api.egress import message_or_field_errors, refusal_response, refuse_unreachable
from services.api.intake import MeetingIntake, discard_recording, receive_recording, take_in
from services.api.lookups import not_found
from services.api.quotas import QUOTA_RESPONSE
from services.api.schemas import ErrorOut
from services.api.upload import UploadError
from services.bots.calendar_import import (
    CalendarError,
    CalendarEvent,
    parse_calendar,
)
from services.bots.contracts import (
    BOT_AUTH_SCHEME,
    EXPECTED_FAILURES,
    BotEvent,
    BotState,
    HeartbeatReply,
    ParticipantTimeline,
)
from services.bots.schemas import (
    BotCreate,
    BotOut,
    BotPage,
    CalendarImportOut,
    CalendarSkipOut,
    CalendarUrlImport,
)
from services.bots.store import (
    CANCELLED,
    NewBot,
    apply_event,
    get_bot,
    get_bot_any_tenant,
    import_calendar,
    list_bots,
    new_bot_row,
    request_leave,
)
from services.bots.tokens import token_matches
from services.egress import EgressPolicy, EgressRefused
from services.egress.transport import pinned_client

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/bots", tags=["bots"])

NOT_FOUND = "No bot with this id."
MAX_ICS_BYTES = 2 * 1024 * 1024
ICS_FETCH_TIMEOUT = 20.0
MAX_ICS_REDIRECTS = 5
_EXPECTED = {r.value for r in EXPECTED_FAILURES} | {CANCELLED}

_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such bot for this tenant."},
}
_BOT_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No `Authorization: Bot <token>` header."},
    403: {"model": ErrorOut, "description": "The token is not this bot's."},
}


def bot_out(bot: Bot) -> BotOut:
    return BotOut(
        id=bot.id,
        state=bot.state,
        reason=bot.reason,
        expected_failure=bot.state == BotState.failed.value and bot.reason in _EXPECTED,
        detail=bot.detail,
        meeting_url=bot.meeting_url,
        bot_name=bot.bot_name,
        title=bot.title,
        platform=bot.platform,
        join_at=bot.join_at,
        max_duration=bot.max_duration,
        leave_requested=bot.leave_requested,
        meeting_id=bot.meeting_id,
        timeline=ParticipantTimeline.model_validate(bot.timeline) if bot.timeline else None,
        calendar_uid=bot.calendar_key,
        created_at=bot.created_at,
        updated_at=bot.updated_at,
    )


def _wake_controller(request: Request) -> None:
    controller = getattr(request.app.state, "bot_controller", None)
    if controller is not None:
        controller.wake()


# The tenant's side.


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Send a bot to a meeting, now or at join_at",
    responses={
        **_AUTH,
        **refusal_response("meeting_url"),
        **QUOTA_RESPONSE,
    },
)
async def create_bot(
    body: BotCreate, request: Request, session: SessionDep, tenant: TenantDep, ctx: ContextDep
) -> BotOut:
    await refuse_unreachable(ctx.egress, body.meeting_url, "meeting_url")
    await ctx.quotas.bot_room(session, tenant.id)
    bot = new_bot_row(
        tenant.id,
        NewBot(
            meeting_url=body.meeting_url,
            join_at=body.join_at,
            bot_name=body.bot_name,
            max_duration=body.max_duration,
            title=body.title,
        ),
    )
    session.add(bot)
    await session.commit()
    _wake_controller(request)
    return bot_out(bot)


@router.get("", summary="The tenant's bots, newest first", responses={**_AUTH})
async def list_all(
    session: SessionDep, tenant: TenantDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> BotPage:
    bots = await list_bots(session, tenant.id, limit=limit)
    await session.commit()
    return BotPage(items=[bot_out(b) for b in bots])


async def _bot_of(
    session: AsyncSession, tenant_id: uuid.UUID, bot_id: uuid.UUID, *, for_update: bool = False
) -> Bot:
    """The tenant's bot, or the same 404 as the API's other lookups (services/api/lookups.py)."""
    bot = await get_bot(session, tenant_id, bot_id, for_update=for_update)
    if bot is None:
        raise not_found(NOT_FOUND)
    return bot


@router.get("/{bot_id}", summary="A bot: state, reason, meeting", responses={**_AUTH, **_NOT_FOUND})
async def read(bot_id: uuid.UUID, session: SessionDep, tenant: TenantDep) -> BotOut:
    bot = await _bot_of(session, tenant.id, bot_id)
    await session.commit()
    return bot_out(bot)


@router.delete(
    "/{bot_id}",
    summary="Leave now (a scheduled bot is cancelled); the recording so far is kept",
    responses={**_AUTH, **_NOT_FOUND},
)
async def leave(
    bot_id: uuid.UUID, request: Request, session: SessionDep, tenant: TenantDep
) -> BotOut:
    bot = await _bot_of(session, tenant.id, bot_id, for_update=True)
    request_leave(bot)
    await session.commit()
    _wake_controller(request)
    return bot_out(bot)


async def _read_capped(answer: httpx.Response) -> bytes:
    data = bytearray()
    async for chunk in answer.aiter_bytes():
        data += chunk
        if len(data) > MAX_ICS_BYTES:
            raise HTTPException(
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "The calendar is larger than 2 MiB."
            )
    return bytes(data)


def _unfetchable(why: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"The calendar at ics_url {why}.")


async def _fetch_ics(url: str, egress: EgressPolicy) -> bytes:
    """The calendar's bytes. Every hop is checked by the egress policy and fetched from the
    address that was checked; failures say what kind, never the network's own words."""
    target = httpx.URL(url)
    try:
        async with pinned_client(egress, timeout=ICS_FETCH_TIMEOUT) as client:
            # Redirects are followed by hand: each hop goes through the policy like the first.
            for _ in range(MAX_ICS_REDIRECTS + 1):
                async with client.stream("GET", target) as answer:
                    location = answer.headers.get("location")
                    if answer.is_redirect and location:
                        target = answer.url.join(location)
                        continue
                    if answer.status_code != 200:
                        raise _unfetchable(f"answered HTTP {answer.status_code}")
                    return await _read_capped(answer)
        raise _unfetchable(f"redirects more than {MAX_ICS_REDIRECTS} times")
    except EgressRefused as refused:
        raise _unfetchable(f"is refused: {refused.message}") from refused
    except httpx.TimeoutException as exc:
        raise _unfetchable("did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise _unfetchable("cannot be fetched") from exc


async def _checked_links(events: list[CalendarEvent], egress: EgressPolicy) -> list[CalendarEvent]:
    """Events whose meeting link the policy refuses become skipped ones, with the reason."""
    verdicts: dict[str, str | None] = {}
    checked: list[CalendarEvent] = []
    for event in events:
        url = event.meeting_url
        if url is not None and url not in verdicts:
            try:
                await egress.check_async(url, "the meeting link")
                verdicts[url] = None
            except EgressRefused as refused:
                verdicts[url] = refused.message
        why = verdicts.get(url) if url is not None else None
        checked.append(event if why is None else replace(event, meeting_url=None, problem=why))
    return checked


def _validation_error(exc: ValidationError) -> RequestValidationError:
    errors: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False, include_context=False):
        found: dict[str, Any] = {**error, "loc": ("body", *error["loc"])}
        if isinstance(found.get("input"), bytes):
            # The raw body of a json_invalid error: not UTF-8 perhaps, and unencodable in the
            # JSON answer (a 500 instead of the 422, found by the fuzz test).
            del found["input"]
        errors.append(found)
    return RequestValidationError(errors)


async def _calendar_source(request: Request) -> tuple[bytes, CalendarUrlImport | None]:
    """The ICS bytes (uploaded as `file`, or the raw body), or the JSON {ics_url} body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            body = CalendarUrlImport.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _validation_error(exc) from exc
        egress: EgressPolicy = request.app.state.ctx.egress
        await refuse_unreachable(egress, body.ics_url, "ics_url")
        return await _fetch_ics(body.ics_url, egress), body
    if media == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=8)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UploadError("Send the calendar in the form field 'file'.")
        data = await upload.read(MAX_ICS_BYTES + 1)
    elif media in ("text/calendar", "application/octet-stream"):
        data = await request.body()
    else:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "Send an ICS file (multipart 'file' or text/calendar) or JSON {\"ics_url\": ...}.",
        )
    if len(data) > MAX_ICS_BYTES:
        raise HTTPException(
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "The calendar is larger than 2 MiB."
        )
    return data, None


_CALENDAR_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        "text/calendar": {"schema": {"type": "string"}},
        "application/json": {"schema": CalendarUrlImport.model_json_schema()},
    },
}


@router.post(
    "/calendar",
    summary="Schedule a bot for every calendar event with a meeting link (idempotent by UID)",
    openapi_extra={"requestBody": _CALENDAR_BODY},
    responses={
        400: {"model": ErrorOut, "description": "The form is malformed or has no file."},
        **_AUTH,
        413: {"model": ErrorOut, "description": "The calendar is too large."},
        415: {"model": ErrorOut, "description": "Neither an ICS file nor {ics_url}."},
        **QUOTA_RESPONSE,
        **message_or_field_errors(
            "Not an ICS file, or ics_url unusable (a message), or the JSON body is invalid "
            "(FastAPI's list of field errors)."
        ),
    },
)
async def import_ics(
    request: Request, session: SessionDep, tenant: TenantDep, ctx: ContextDep
) -> CalendarImportOut:
    data, options = await _calendar_source(request)
    try:
        events = parse_calendar(data)
    except CalendarError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"{exc}.") from exc
    events = await _checked_links(events, ctx.egress)
    room = await ctx.quotas.bot_room(session, tenant.id)
    options = options or CalendarUrlImport.model_construct(
        bot_name="Minuta notetaker", max_duration=3 * 3600.0
    )
    outcome = await import_calendar(
        session,
        tenant.id,
        events,
        bot_name=options.bot_name,
        max_duration=options.max_duration,
        now=utcnow(),
        max_new=room,
    )
    await session.commit()
    _wake_controller(request)
    return CalendarImportOut(
        created=[bot_out(b) for b in outcome.created],
        updated=[bot_out(b) for b in outcome.updated],
        unchanged=len(outcome.unchanged),
        skipped=[CalendarSkipOut(uid=k, summary=s, why=w) for k, s, w in outcome.skipped],
    )


# The bot's side: `Authorization: Bot <token>`, and only for its own id.


async def calling_bot(bot_id: uuid.UUID, request: Request, session: SessionDep) -> Bot:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != BOT_AUTH_SCHEME.lower() or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"Bot callbacks need 'Authorization: {BOT_AUTH_SCHEME} <token>' (the spec's token).",
            headers={"WWW-Authenticate": BOT_AUTH_SCHEME},
        )
    bot = await get_bot_any_tenant(session, bot_id)
    await session.commit()
    # A missing bot and someone else's token look the same: nothing to learn from probing.
    if bot is None or not token_matches(token.strip(), bot.token_hash):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This token is not this bot's.")
    return bot


BotCallerDep = Annotated[Bot, Depends(calling_bot)]


@router.post(
    "/{bot_id}/events",
    summary="(bot) Report a state change",
    responses={
        **_BOT_AUTH,
        409: {"model": ErrorOut, "description": "Not a legal transition from the bot's state."},
    },
)
async def post_event(event: BotEvent, caller: BotCallerDep, session: SessionDep) -> BotOut:
    bot = await get_bot_any_tenant(session, caller.id, for_update=True)
    assert bot is not None  # bots are never deleted, only their tenant with them
    verdict = apply_event(bot, event)
    if not verdict.allowed:
        await session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"Refused: {verdict.why}.")
    await session.commit()
    if not verdict.repeated:
        log.info("bot %s: %s %s", bot.id, bot.state, bot.reason or "")
    return bot_out(bot)


@router.post(
    "/{bot_id}/heartbeat", summary="(bot) I am alive; should I leave?", responses=_BOT_AUTH
)
async def heartbeat(caller: BotCallerDep, session: SessionDep) -> HeartbeatReply:
    bot = await get_bot_any_tenant(session, caller.id, for_update=True)
    assert bot is not None
    if bot.state in (BotState.done.value, BotState.failed.value):
        await session.rollback()
        return HeartbeatReply(leave=True)  # e.g. reaped as an orphan: it must stop now
    bot.last_heartbeat_at = utcnow()
    await session.commit()
    return HeartbeatReply(leave=bot.leave_requested)


def _timeline_or_422(raw: str | None) -> ParticipantTimeline:
    if raw is None or not raw.strip():
        return ParticipantTimeline()
    try:
        return ParticipantTimeline.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"The 'timeline' field is not a ParticipantTimeline JSON: {exc}",
        ) from exc


_UPLOADABLE = (BotState.recording.value, BotState.uploading.value)


def _recorded(bot: Bot, timeline: ParticipantTimeline, meeting: Meeting) -> None:
    """The bot is done once its meeting exists: changed in the meeting's transaction."""
    bot.meeting_id = meeting.id
    bot.timeline = timeline.model_dump(mode="json")
    bot.state = BotState.done.value
    bot.updated_at = utcnow()


@router.post(
    "/{bot_id}/recording",
    summary="(bot) Upload the recording and participant timeline; the meeting is processed",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "timeline": {"type": "string", "description": "ParticipantTimeline"},
                        },
                    }
                }
            },
        }
    },
    responses={
        **_BOT_AUTH,
        409: {"model": ErrorOut, "description": "The bot is not recording or uploading."},
        413: {"model": ErrorOut, "description": "The recording exceeds the size limit."},
        415: {"model": ErrorOut, "description": "The file is not a recording we can read."},
    },
)
async def upload_recording(
    request: Request, caller: BotCallerDep, ctx: ContextDep, session: SessionDep
) -> BotOut:
    """The same intake as `POST /v1/meetings`: streamed to storage, sniffed, size-limited, and
    queued with an outbox row in the meeting's transaction. A retried upload of a bot that
    already has its meeting changes nothing."""
    if caller.meeting_id is not None:
        return bot_out(caller)
    if caller.state not in _UPLOADABLE:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"A recording is accepted while recording or uploading; the bot is {caller.state}.",
        )
    # Never refused for the day's quota, only counted: the meeting has already happened.
    recording = await receive_recording(request, ctx, caller.tenant_id, quota_capped=False)
    try:
        timeline = _timeline_or_422(recording.fields.get("timeline"))
        bot = await get_bot_any_tenant(session, caller.id, for_update=True)
        assert bot is not None
        if bot.meeting_id is not None or bot.state not in _UPLOADABLE:
            # Another upload of the same bot won, or the bot was reaped meanwhile.
            await session.rollback()
            if bot.meeting_id is None:
                raise HTTPException(status.HTTP_409_CONFLICT, f"The bot is {bot.state} now.")
            await discard_recording(ctx, recording.key)
            return bot_out(bot)
    except BaseException:
        await session.rollback()
        await discard_recording(ctx, recording.key)
        raise
    title = bot.title or f"Meeting at {bot.meeting_url}"[:500]
    intake = MeetingIntake(recording, title=title)
    taken = await take_in(session, ctx, intake, link=partial(_recorded, bot, timeline))
    log.info("bot %s: recording stored as meeting %s", bot.id, taken.meeting.id)
    return bot_out(bot)
