"""The People page in real Chromium against a real `minuta serve`: a voice named in one meeting
is proposed, by the real worker, for the same voice in an earlier meeting; confirming it in the
browser names that speaker ("proposal"), and the person counts as recognisable by voice.

dev00 and dev01 (AMI, 30 s each) share their two speakers."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from testkit.processes import AUDIO
from tests.services.web.conftest import Served
from tests.services.web.helpers import completed_meeting, poll

DEBUG = AUDIO / "pyannote_debug"
PROCESSING_TIMEOUT = 300.0


def _processed(served: Served, tmp_path: Path, name: str, title: str) -> dict[str, Any]:
    # As Ogg Vorbis: the WAV is over this stack's 1 MB upload limit.
    small = tmp_path / f"{name}.ogg"
    source = DEBUG / f"{name}.wav"
    command = ["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "libvorbis", str(small)]
    subprocess.run(command, check=True)
    meeting_id = completed_meeting(served, small, title, PROCESSING_TIMEOUT, num_speakers=2)
    meeting: dict[str, Any] = served.client.meeting(meeting_id)
    return meeting


def _main_speaker(meeting: dict[str, Any]) -> str:
    """The label with the most speech: the surest voiceprint."""
    seconds: dict[str, float] = defaultdict(float)
    for segment in meeting["result"]["segments"]:
        seconds[segment["speaker"]] += segment["end"] - segment["start"]
    return max(seconds, key=lambda label: seconds[label])


def test_a_proposal_is_confirmed_on_the_people_page(
    page: Page, served: Served, tmp_path: Path
) -> None:
    earlier = _processed(served, tmp_path, "dev01", "Planning (earlier)")
    later = _processed(served, tmp_path, "dev00", "Planning (later)")
    http = served.client.http
    named = http.patch(
        f"/v1/meetings/{later['id']}/speakers/{_main_speaker(later)}", json={"name": "Maria"}
    )
    assert named.status_code == 200, named.text
    maria = named.json()["person_id"]

    # The worker enrolls the voice and reports the same voice in the earlier meeting.
    proposals = poll(
        lambda: http.get(f"/v1/persons/{maria}/proposals").json()["items"],
        60,
        "a proposal for Maria",
        interval=0.5,
    )
    assert [p["meeting_id"] for p in proposals] == [earlier["id"]]
    label = proposals[0]["label"]
    assert all(
        s["name"] is None for s in served.client.meeting(earlier["id"])["result"]["speakers"]
    )

    page.get_by_role("link", name="People").click()
    page.get_by_role("heading", name="People", level=1).wait_for()
    card = page.locator(".person", has=page.get_by_role("heading", name="Maria"))
    item = card.locator(".proposal")
    expect(item).to_have_count(1)
    expect(item.get_by_role("link", name="Planning (earlier)")).to_have_attribute(
        "href", f"#/meetings/{earlier['id']}?t={proposals[0]['start']:.2f}"
    )
    # Her voice is learned for the current model: no "name them again" note.
    expect(card.locator(".stale")).to_have_count(0)
    served.shot(page, "people")
    item.get_by_role("button", name="Confirm").click()
    expect(item).to_have_count(0)

    speaker = next(
        s for s in served.client.meeting(earlier["id"])["result"]["speakers"] if s["id"] == label
    )
    assert (speaker["name"], speaker["person_id"], speaker["named_by"]) == (
        "Maria",
        maria,
        "proposal",
    )
    person = http.get(f"/v1/persons/{maria}").json()
    assert person["recognisable"] is True
    assert person["voiceprints"] == {"current": 2, "stale": 0}

    # The meeting page says where the name came from, and a person's own rename clears that.
    page.goto(f"{served.url}/app/#/meetings/{earlier['id']}")
    row = page.locator(f"form.speaker[data-label='{label}']")
    expect(row.locator(".named-by")).to_have_text("confirmed voice match")
    page.get_by_label(f"Name of {label}").fill("Maria K.")
    row.get_by_role("button", name="Save name").click()
    expect(row.locator(".named-by")).to_have_text("")
