"""Which adapter a link gets, and how links become the browser join page."""

from __future__ import annotations

import pytest

from services.meeting_bot.adapters import UnknownPlatform, adapter_for


@pytest.mark.parametrize(
    ("url", "platform"),
    [
        ("https://meet.google.com/abc-defg-hij", "google_meet"),
        ("https://us02web.zoom.us/j/85412345678?pwd=xyz", "zoom"),
        ("https://teams.microsoft.com/l/meetup-join/19%3ameeting_x", "teams"),
        ("https://meet.jit.si/MinutaStandup", "jitsi"),
        ("https://jitsi.example.org/room", "jitsi"),
        ("http://10.0.0.5:8080/meeting.html?room=4", "webrtc"),
    ],
)
def test_links_get_their_platform_adapter(url: str, platform: str) -> None:
    assert adapter_for(url).name == platform


def test_the_spec_platform_overrides_the_link_and_unknown_names_are_refused() -> None:
    assert adapter_for("https://meet.jit.si/x", "webrtc").name == "webrtc"
    with pytest.raises(UnknownPlatform, match="known: jitsi"):
        adapter_for("https://meet.jit.si/x", "skype")


def test_zoom_invites_open_in_the_web_client_keeping_the_passcode() -> None:
    adapter = adapter_for("https://us02web.zoom.us/j/85412345678?pwd=abc")
    url = adapter.join_url("https://us02web.zoom.us/j/85412345678?pwd=abc", "Bot")
    assert url == "https://us02web.zoom.us/wc/join/85412345678?pwd=abc"


def test_jitsi_links_carry_the_name_and_a_muted_start() -> None:
    url = adapter_for("https://meet.jit.si/Room").join_url("https://meet.jit.si/Room", "Min Bot")
    assert url.startswith("https://meet.jit.si/Room#")
    assert "config.startWithAudioMuted=true" in url
    assert "userInfo.displayName=%22Min%20Bot%22" in url


def test_only_the_generic_webrtc_adapter_is_marked_tested() -> None:
    urls = [
        "https://meet.google.com/a",
        "https://zoom.us/j/1",
        "https://teams.live.com/m",
        "https://meet.jit.si/a",
        "http://example.org/m",
    ]
    assert {adapter_for(u).name: adapter_for(u).tested for u in urls} == {
        "google_meet": False,
        "zoom": False,
        "teams": False,
        "jitsi": False,
        "webrtc": True,
    }
