"""Which speakers of other meetings are proposed for a person just named: the rules."""

from __future__ import annotations

from ml_controller.speakers.proposals import best_per_meeting
from ml_controller.vectors.models import VoiceHit


def test_each_meeting_proposes_its_best_label_at_or_above_the_threshold() -> None:
    hits = [
        VoiceHit("m1", "S1", 0.70),
        VoiceHit("m1", "S2", 0.81),  # the same meeting, a closer voice: this one
        VoiceHit("m2", "S3", 0.64),  # exactly the threshold: proposed
        VoiceHit("m3", "S1", 0.639),  # just under: not
    ]
    best = best_per_meeting(hits, 0.64)
    assert [(h.meeting_id, h.label) for h in best] == [("m1", "S2"), ("m2", "S3")]
    assert best_per_meeting([], 0.64) == []
