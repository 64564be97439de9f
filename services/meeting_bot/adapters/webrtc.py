"""A generic WebRTC meeting page: the DOM convention of our Janus test meeting.

Tested against a real Janus AudioBridge (tests/services/meeting_bot). Any page that follows the
same convention works: `#display-name`, `#mute-mic`, `#join-button`, `#waiting-room`,
`#in-meeting`, `#meeting-ended`, `#refused`, and a roster of `[data-participant-name]` items
with `data-speaking="true"` while someone talks and `data-self="true"` on one's own entry.
"""

from __future__ import annotations

from services.meeting_bot.adapters.base import DomSelectors, PlatformAdapter


class WebRtcAdapter(PlatformAdapter):
    name = "webrtc"
    tested = True
    selectors = DomSelectors(
        name_input="#display-name",
        mute_checkboxes=("#mute-mic",),
        join_buttons=("#join-button",),
        in_meeting="#in-meeting",
        waiting=("#waiting-room",),
        ended=("#meeting-ended",),
        refused=("#refused",),
        leave_buttons=("#leave-button",),
        participant="[data-participant-name]",
        participant_name_attr="data-participant-name",
        speaking='[data-speaking="true"]',
        self_marker='[data-self="true"]',
    )

    @classmethod
    def matches(cls, url: str) -> bool:
        return True  # the fallback for any link no other adapter claims
