"""Jitsi Meet (meet.jit.si or a self-hosted Jitsi). UNTESTED: written from Jitsi Meet's public
web client (prejoin screen `data-testid`s, lobby and toolbar labels); no Jitsi server runs here.

The display name and muted start go in the link's `#config...` fragment, which Jitsi reads, so
the prejoin form needs only the join click.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from services.meeting_bot.adapters.base import DomSelectors, PlatformAdapter


class JitsiAdapter(PlatformAdapter):
    name = "jitsi"
    selectors = DomSelectors(
        name_input='input#premeeting-name-input, input[data-testid="prejoin.input"]',
        join_buttons=('[data-testid="prejoin.joinMeeting"]', ".prejoin-preview-dropdown-btn"),
        in_meeting="#new-toolbox, .toolbox-content-items",
        waiting=(".lobby-screen", '[data-testid="lobby.joinButton"]'),
        waiting_texts=("Asking to join meeting", "You are in the lobby"),
        ended_texts=("The meeting has been terminated", "The meeting ended", "Meeting ended"),
        refused_texts=(
            "You have been removed from the meeting",
            "Your request to join was rejected",
            "Access denied",
        ),
        leave_buttons=('[aria-label="Leave the meeting"]', ".hangup-button"),
        participant=".participants_pane .participant-item, [data-testid^='participant-item']",
        participant_name=".participant-name, [class*='nameContainer']",
        speaking="[class*='isSpeaking'], .participant-item--speaking",
    )

    def join_url(self, meeting_url: str, bot_name: str) -> str:
        base = meeting_url.split("#", 1)[0]
        options = [
            "config.startWithAudioMuted=true",
            "config.startWithVideoMuted=true",
            f"userInfo.displayName={quote(json.dumps(bot_name))}",
        ]
        return f"{base}#{'&'.join(options)}"
