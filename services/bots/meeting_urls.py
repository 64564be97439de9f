"""Meeting links: validation, and finding one in free text (platforms: services/bots/platforms)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from services.bots.platforms import platform_for
from services.egress import EgressPolicy, EgressRefused

MAX_URL_LENGTH = 2048
_URL_IN_TEXT = re.compile(r"https?://[^\s<>\"'\\]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than the link.
_TRAILING = ".,;:!?)]}>"


class MeetingUrlError(ValueError):
    pass


def validate_meeting_url(url: str) -> str:
    """The URL, stripped; raises MeetingUrlError with a message for a person."""
    url = url.strip()
    if not url:
        raise MeetingUrlError("meeting_url is empty; give the link of the meeting to join")
    if len(url) > MAX_URL_LENGTH:
        raise MeetingUrlError(f"meeting_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise MeetingUrlError(f"meeting_url is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise MeetingUrlError(
            f"meeting_url must be an http or https link, not {parts.scheme or 'a bare path'!r}"
        )
    try:
        # Credentials, spaces, no host: the egress policy's own rules (addresses are checked
        # where the URL is stored and where it is opened, with a resolver).
        EgressPolicy().check_syntax(url, "meeting_url")
    except EgressRefused as refused:
        raise MeetingUrlError(refused.message) from refused
    return url


def urls_in(text: str) -> list[str]:
    return [match.rstrip(_TRAILING) for match in _URL_IN_TEXT.findall(text or "")]


def known_meeting_url(text: str) -> str | None:
    """The first link of a known meeting platform in the text."""
    for url in urls_in(text):
        platform = platform_for(url)
        if platform is not None and platform.is_join_link(url):
            try:
                return validate_meeting_url(url)
            except MeetingUrlError:
                continue
    return None
