"""The controller's `detect_platform` and the bot's adapters read one list: they agree on every
link, including the hosts only the adapters knew before (zoomgov.com, teams.cloud.microsoft)."""

from __future__ import annotations

import pytest

from services.bots.meeting_urls import known_meeting_url
from services.bots.platforms import BY_NAME, detect_platform
from services.meeting_bot.adapters import ADAPTERS, adapter_for

LINKS = [
    ("https://meet.jit.si/MinutaTest", "jitsi"),
    ("https://jitsi.example.org/room", "jitsi"),
    ("https://meet.google.com/abc-defg-hij", "google_meet"),
    ("https://zoom.us/j/85412345678", "zoom"),
    ("https://us02web.zoom.us/j/85412345678?pwd=xyz", "zoom"),
    ("https://app.zoom.us/wc/join/85412345678", "zoom"),
    ("https://zoomgov.com/j/1610000000", "zoom"),
    ("https://agency.zoomgov.com/j/1610000000?pwd=abc", "zoom"),
    ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_x", "teams"),
    ("https://teams.live.com/meet/9312345678", "teams"),
    ("https://teams.cloud.microsoft/l/meetup-join/19%3ameeting_y", "teams"),
    ("https://MEET.GOOGLE.COM/abc-defg-hij", "google_meet"),
    ("https://example.org/webrtc-room", None),
    ("https://notzoom.us/j/1", None),
    ("https://zoom.us.example.org/j/1", None),
    ("https://teams.microsoft.com.example.org/l/x", None),
]


@pytest.mark.parametrize(("url", "platform"), LINKS)
def test_detect_platform_and_the_adapters_agree(url: str, platform: str | None) -> None:
    assert detect_platform(url) == platform
    assert adapter_for(url).name == (platform or "webrtc")


def test_every_adapter_but_the_fallback_has_its_platform_in_the_list() -> None:
    named = {adapter.name for adapter in ADAPTERS} - {"webrtc"}
    assert named == set(BY_NAME)


def test_every_link_an_adapter_accepts_is_detected_as_that_adapters_platform() -> None:
    for url, _ in LINKS:
        for adapter in ADAPTERS:
            if adapter.name != "webrtc" and adapter.matches(url):
                assert detect_platform(url) == adapter.name, url


def test_a_zoom_join_link_is_found_in_text_past_zooms_other_pages() -> None:
    text = "Download: https://zoom.us/download Join: https://agency.zoomgov.com/j/161000?pwd=x."
    assert known_meeting_url(text) == "https://agency.zoomgov.com/j/161000?pwd=x"
    assert known_meeting_url("Join https://teams.cloud.microsoft/l/meetup-join/19%3a") == (
        "https://teams.cloud.microsoft/l/meetup-join/19%3a"
    )
