"""Google Meet (meet.google.com). UNTESTED: written from Meet's public web client (aria labels
and visible texts, which are stabler there than its generated class names); Meet cannot be
reached from here. Guests need the host's admission, so expect the waiting room.
"""

from __future__ import annotations

from services.meeting_bot.adapters.base import DomSelectors, PlatformAdapter


class GoogleMeetAdapter(PlatformAdapter):
    name = "google_meet"
    selectors = DomSelectors(
        name_input='input[aria-label="Your name"], input[placeholder="Your name"]',
        before_join=('button:has-text("Got it")', 'button:has-text("Dismiss")'),
        mute_buttons=(
            '[role="button"][aria-label*="Turn off microphone"]',
            '[role="button"][aria-label*="Turn off camera"]',
        ),
        join_buttons=('button:has-text("Ask to join")', 'button:has-text("Join now")'),
        in_meeting='[aria-label="Leave call"]',
        waiting_texts=("Asking to be let in", "Please wait until a meeting host brings you into"),
        ended_texts=("The call has ended", "You left the meeting", "This meeting has ended"),
        refused_texts=(
            "You can't join this video call",
            "Someone in the call denied your request",
            "You've been removed from the meeting",
        ),
        leave_buttons=('[aria-label="Leave call"]',),
        participant="[data-participant-id]",
        participant_name="[data-self-name], .zWGUib, [jsname='EydYod']",
        speaking="[data-audio-level]:not([data-audio-level='0'])",
    )
