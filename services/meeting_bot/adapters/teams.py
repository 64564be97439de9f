"""Microsoft Teams on the web. UNTESTED: written from Teams' public web client (`data-tid`
attributes); Teams cannot be reached from here. Anonymous guests wait in the lobby.
"""

from __future__ import annotations

from services.meeting_bot.adapters.base import DomSelectors, PlatformAdapter


class TeamsAdapter(PlatformAdapter):
    name = "teams"
    selectors = DomSelectors(
        name_input='input[data-tid="prejoin-display-name-input"]',
        before_join=(
            'button[data-tid="joinOnWeb"]',
            'button:has-text("Continue on this browser")',
            'button:has-text("Continue without audio or video")',
        ),
        mute_buttons=(
            '[data-tid="toggle-mute"][aria-checked="true"]',
            '[data-tid="toggle-video"][aria-checked="true"]',
        ),
        join_buttons=('button[data-tid="prejoin-join-button"]',),
        in_meeting="#hangup-button, [data-tid='hangup-main-btn']",
        waiting_texts=(
            "Someone in the meeting should let you in soon",
            "When the meeting starts, we'll let people know you're waiting",
        ),
        ended_texts=("The meeting has ended", "You've been removed from this meeting"),
        refused_texts=(
            "Sorry, but you were denied access to the meeting",
            "You can't join this meeting",
        ),
        leave_buttons=("#hangup-button", "[data-tid='hangup-main-btn']"),
        participant="[data-tid^='participantsInCall-']",
        participant_name="[data-tid='roster-participant-name'], span[title]",
        speaking="[data-tid='voice-level-stream-outline'], [class*='speaking']",
    )
