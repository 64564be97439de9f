"""Zoom web client. UNTESTED: written from Zoom's public web client (app.zoom.us/wc); Zoom
cannot be reached from here. Invite links (`/j/<id>?pwd=`) are opened in the web client, not
the desktop app.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from services.meeting_bot.adapters.base import DomSelectors, PlatformAdapter

_MEETING_ID = re.compile(r"/(?:j|wc/join|wc)/(\d+)")


class ZoomAdapter(PlatformAdapter):
    name = "zoom"
    selectors = DomSelectors(
        name_input="#input-for-name, input#inputname",
        before_join=("#onetrust-accept-btn-handler", 'button:has-text("Join from your browser")'),
        mute_buttons=(
            '#preview-audio-control-button[aria-label*="Mute"]',
            '#preview-video-control-button[aria-label*="Stop Video"]',
        ),
        join_buttons=("button.preview-join-button", "button#joinBtn"),
        in_meeting=".footer__leave-btn, button[aria-label='Leave']",
        waiting_texts=(
            "Please wait, the meeting host will let you in soon",
            "Host has joined. We've let them know you're here",
        ),
        ended_texts=("This meeting has been ended by host", "The meeting has ended"),
        refused_texts=(
            "You have been removed from this meeting",
            "The host does not allow participants to join from the browser",
        ),
        leave_buttons=(".footer__leave-btn", "button:has-text('Leave Meeting')"),
        participant=".participants-item__item-layout, .participants-li",
        participant_name=".participants-item__display-name",
        speaking=".participants-item__audio-icon--active, [class*='audio-icon'][class*='speak']",
        self_marker=":has(.participants-item__name-label:has-text('(Me)'))",
    )

    def join_url(self, meeting_url: str, bot_name: str) -> str:
        parts = urlsplit(meeting_url)
        found = _MEETING_ID.search(parts.path)
        if not found:
            return meeting_url
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme}://{parts.hostname}/wc/join/{found.group(1)}{query}"
