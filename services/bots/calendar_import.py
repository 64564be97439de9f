"""Calendar events with a meeting link, read from an iCalendar (ICS) file.

An event's link is a known meeting link in URL, LOCATION or DESCRIPTION (in that order), or any
https link in LOCATION. Recurring events are taken at their DTSTART only (no RRULE expansion);
an overridden occurrence (RECURRENCE-ID) is its own event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import icalendar

from services.bots.meeting_urls import (
    MeetingUrlError,
    known_meeting_url,
    urls_in,
    validate_meeting_url,
)


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class CalendarEvent:
    # UID, or UID@RECURRENCE-ID for one changed occurrence of a series.
    key: str
    summary: str
    start: datetime | None
    end: datetime | None
    meeting_url: str | None
    cancelled: bool
    # Why no bot can be made for it (no link, all-day event, ...), else None.
    problem: str | None = None


def _as_utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        # A floating time (no zone) is taken as UTC: the file says nothing better.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None


def _text(component: icalendar.Component, name: str) -> str:
    value = component.get(name)
    return str(value) if value is not None else ""


def _meeting_link(event: icalendar.Component) -> str | None:
    for field in ("URL", "LOCATION", "DESCRIPTION", "X-GOOGLE-CONFERENCE"):
        found = known_meeting_url(_text(event, field))
        if found:
            return found
    for url in urls_in(_text(event, "LOCATION")):
        if url.lower().startswith("https://"):
            try:
                return validate_meeting_url(url)
            except MeetingUrlError:
                continue
    return None


def _event(component: icalendar.Component) -> CalendarEvent:
    uid = _text(component, "UID").strip()
    recurrence = component.get("RECURRENCE-ID")
    key = uid
    if recurrence is not None:
        moment = _as_utc(recurrence.dt)
        key = f"{uid}@{moment.isoformat() if moment else recurrence.to_ical().decode()}"
    dtstart = component.get("DTSTART")
    dtend = component.get("DTEND")
    raw_start = dtstart.dt if dtstart is not None else None
    start = _as_utc(raw_start)
    end = _as_utc(dtend.dt) if dtend is not None else None
    link = _meeting_link(component)
    problem = None
    if not uid:
        problem = "the event has no UID"
    elif raw_start is None:
        problem = "the event has no DTSTART"
    elif isinstance(raw_start, date) and not isinstance(raw_start, datetime):
        problem = "an all-day event has no time to join at"
    elif link is None:
        problem = "no meeting link in URL, LOCATION or DESCRIPTION"
    return CalendarEvent(
        key=key[:600],
        summary=_text(component, "SUMMARY")[:500],
        start=start,
        end=end,
        meeting_url=link,
        cancelled=_text(component, "STATUS").upper() == "CANCELLED",
        problem=problem,
    )


def parse_calendar(data: bytes) -> list[CalendarEvent]:
    """Every VEVENT of the file; raises CalendarError when it is not an iCalendar file."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        raise CalendarError(f"the file is not a valid iCalendar (ICS) file: {exc}") from exc
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise CalendarError("the file is not an iCalendar file (no VCALENDAR)")
    return [_event(component) for component in calendar.walk("VEVENT")]
