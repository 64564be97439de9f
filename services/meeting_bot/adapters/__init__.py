"""Platform adapters, one module each; `adapter_for` picks one from the spec or the link."""

from __future__ import annotations

from services.meeting_bot.adapters.base import PlatformAdapter
from services.meeting_bot.adapters.google_meet import GoogleMeetAdapter
from services.meeting_bot.adapters.jitsi import JitsiAdapter
from services.meeting_bot.adapters.teams import TeamsAdapter
from services.meeting_bot.adapters.webrtc import WebRtcAdapter
from services.meeting_bot.adapters.zoom import ZoomAdapter

# Order matters: the generic WebRTC adapter claims every link, so it comes last.
ADAPTERS: tuple[type[PlatformAdapter], ...] = (
    JitsiAdapter,
    GoogleMeetAdapter,
    ZoomAdapter,
    TeamsAdapter,
    WebRtcAdapter,
)


class UnknownPlatform(ValueError):
    pass


def adapter_for(meeting_url: str, platform: str | None = None) -> PlatformAdapter:
    if platform:
        for adapter in ADAPTERS:
            if adapter.name == platform:
                return adapter()
        known = ", ".join(adapter.name for adapter in ADAPTERS)
        raise UnknownPlatform(f"unknown platform {platform!r} (known: {known})")
    for adapter in ADAPTERS:
        if adapter.matches(meeting_url):
            return adapter()
    return WebRtcAdapter()
