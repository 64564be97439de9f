"""Which meeting platform a link belongs to: the one list both sides read.

The bot's adapters (services/meeting_bot/adapters) match links with it and the controller
records `Bot.platform` with it (`detect_platform`), so the two cannot disagree. Pure: no
browser, no API imports, since the bot process and the API both load it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Platform:
    """A platform's links: `domains` match the host and its subdomains, `hosts` only exactly,
    `host_word` anywhere in the host (self-hosted servers name themselves so)."""

    name: str
    hosts: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    host_word: str | None = None
    # Paths of a join link, where the platform's site has other pages too (a Zoom invitation
    # also links its download and dial-in pages): only for finding the link in free text.
    join_path: re.Pattern[str] | None = None

    def matches(self, url: str) -> bool:
        host = _host(url)
        if not host:
            return False
        return (
            host in self.hosts
            or any(host == domain or host.endswith(f".{domain}") for domain in self.domains)
            or (self.host_word is not None and self.host_word in host)
        )

    def is_join_link(self, url: str) -> bool:
        if not self.matches(url):
            return False
        return self.join_path is None or bool(self.join_path.match(urlsplit(url).path.lower()))


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


JITSI = Platform("jitsi", hosts=("meet.jit.si",), host_word="jitsi")
GOOGLE_MEET = Platform("google_meet", hosts=("meet.google.com",))
ZOOM = Platform("zoom", domains=("zoom.us", "zoomgov.com"), join_path=re.compile(r"^/(j|wc|my)/"))
TEAMS = Platform("teams", hosts=("teams.microsoft.com", "teams.live.com", "teams.cloud.microsoft"))

# In matching order: the first that matches wins (a self-hosted "jitsi" host is Jitsi).
PLATFORMS: tuple[Platform, ...] = (JITSI, GOOGLE_MEET, ZOOM, TEAMS)
BY_NAME: dict[str, Platform] = {platform.name: platform for platform in PLATFORMS}


def platform_for(url: str) -> Platform | None:
    for platform in PLATFORMS:
        if platform.matches(url):
            return platform
    return None


def detect_platform(url: str) -> str | None:
    """jitsi, google_meet, zoom or teams for the known hosts; None: the bot looks at the page."""
    platform = platform_for(url)
    return platform.name if platform is not None else None
