"""The web UI in real headless Chromium against a real `minuta serve` and the real pipeline:
sign in, upload (picker and drag-and-drop) with live progress, the meeting page (player and
transcript in step, speaker rename, minutes editing, export, delete), search with
jump-to-moment, the Russian UI, tenant isolation and a phone-width screen."""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from docx import Document
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from testkit.processes import AUDIO
from tests.services.web.conftest import Served, new_context, sign_in
from tests.services.web.helpers import completed_meeting, meeting_titled, poll

ASR = AUDIO / "asr_en"
DARK_SUIT = ASR / "LDC93S1.wav"  # "She had your dark suit in greasy wash water all year."
FLEURS = ASR / "fleurs-en-003.ogg"
TOO_LARGE = ASR / "jfk.flac"  # 1.15 MB; the stack's limit is 1 MB
PROCESSING_TIMEOUT = 240.0

# Records every status a list row shows, so a test can tell the list changed by itself (SSE).
WATCH_STATUSES = """() => {
  window.seenStatuses = {};
  const note = () => {
    for (const row of document.querySelectorAll('.meeting')) {
      const status = row.querySelector('.progress')?.dataset.status;
      const title = row.querySelector('.title')?.textContent;
      if (!status || !title) continue;
      const seen = (window.seenStatuses[title] ||= []);
      if (seen[seen.length - 1] !== status) seen.push(status);
    }
  };
  new MutationObserver(note).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status']});
  note();
}"""


def _row(page: Page, title: str) -> Locator:
    return page.locator(".meeting", has=page.get_by_role("link", name=title, exact=True))


def test_sign_in_refuses_a_wrong_key_then_accepts_the_tenants_key(
    context: BrowserContext, served: Served
) -> None:
    page = context.new_page()
    page.goto(f"{served.url}/")  # the root redirects to the UI
    expect(page).to_have_url(re.compile(r"/app/"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    served.shot(page, "signin")
    page.get_by_label("API key").fill("mk_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This API key is not valid or has been revoked.")
    page.get_by_label("API key").fill(served.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Meetings", level=1)).to_be_visible()
    # The key lasts for the browser session: a reload stays signed in; signing out forgets it.
    page.reload()
    expect(page.get_by_role("heading", name="Meetings", level=1)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_uploads_by_picker_and_drop_show_progress_live_and_refuse_bad_files(
    page: Page, served: Served, tmp_path: Path
) -> None:
    page.evaluate(WATCH_STATUSES)
    fake = tmp_path / "agenda.wav"
    fake.write_text("not a recording at all, just words in a file\n" * 20)
    notes = tmp_path / "notes.txt"
    notes.write_text("minutes written by hand")
    # Several files at once through the file picker: one good, three refused for clear reasons.
    page.get_by_label("choose files").set_input_files([FLEURS, TOO_LARGE, notes, fake])
    # And one by drag-and-drop onto the drop zone.
    payload = base64.b64encode(DARK_SUIT.read_bytes()).decode()
    dropped = page.evaluate_handle(
        """(data) => {
          const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
          const transfer = new DataTransfer();
          transfer.items.add(new File([bytes], 'LDC93S1.wav', {type: 'audio/wav'}));
          return transfer;
        }""",
        payload,
    )
    page.dispatch_event(".drop", "drop", {"dataTransfer": dropped})

    uploads = page.locator(".uploads")
    expect(uploads.locator('[data-file="jfk.flac"]')).to_contain_text(
        "jfk.flac is too large (1.1 MB); the limit is 977 KB."
    )
    expect(uploads.locator('[data-file="notes.txt"]')).to_contain_text(
        "notes.txt does not look like a recording. Supported: WAV, FLAC"
    )
    # agenda.wav passes the name check; the server reads its content and refuses it.
    expect(uploads.locator('[data-file="agenda.wav"]')).to_contain_text(
        re.compile(r"agenda\.wav: .*(not|no) .*(audio|recording)", re.IGNORECASE)
    )

    for title in ("fleurs-en-003", "LDC93S1"):
        row = _row(page, title)
        expect(row).to_be_visible()
        # Completed without reloading the page: the row follows the meeting's event stream.
        expect(row.locator(".progress")).to_have_attribute(
            "data-status", "completed", timeout=PROCESSING_TIMEOUT * 1000
        )
        expect(row.locator(".badge")).to_have_text("Completed")
    seen = page.evaluate("window.seenStatuses")
    for title in ("fleurs-en-003", "LDC93S1"):
        assert seen[title][-1] == "completed" and len(seen[title]) >= 2, seen
    # Only the two real recordings became meetings.
    titles = [m["title"] for m in served.client.http.get("/v1/meetings").json()["items"]]
    assert sorted(titles) == ["LDC93S1", "fleurs-en-003"]
    served.shot(page, "meetings")


def test_meeting_page_plays_from_a_line_renames_a_speaker_and_edits_an_action_item(
    page: Page, served: Served
) -> None:
    meeting_id = completed_meeting(served, DARK_SUIT, "LDC93S1")
    page.goto(f"{served.url}/app/#/meetings/{meeting_id}")
    expect(page.get_by_role("heading", name="LDC93S1", level=1)).to_be_visible()
    line = page.locator(".transcript .line").filter(has_text=re.compile("dark suit", re.I))
    expect(line).to_have_count(1)

    # The player has the recording (fetched through the audio link) and a line seeks it.
    audio = page.locator("audio")
    poll(lambda: audio.evaluate("a => a.readyState >= 1"), 20, "the audio to load")
    assert 2.5 < audio.evaluate("a => a.duration") < 3.5
    start = float(line.get_attribute("data-start") or "nan")
    line.focus()
    page.keyboard.press("Enter")  # keyboard works as well as a click
    expect(page.locator(".transcript li.current")).to_have_count(1)
    assert abs(audio.evaluate("a => a.currentTime") - start) < 0.5

    # Rename the speaker inline: the transcript shows the name; the API holds it.
    label = served.client.meeting(meeting_id)["result"]["speakers"][0]["id"]
    page.get_by_label(f"Name of {label}").fill("Alice Smith")
    page.get_by_role("button", name="Save name").first.click()
    expect(page.locator(".transcript .who").first).to_have_text("Alice Smith")
    speakers = served.client.meeting(meeting_id)["result"]["speakers"]
    assert speakers[0]["name"] == "Alice Smith" and speakers[0]["person_id"]

    # Add an action item owned by her, save, reload: it is there, then edit its due date.
    saved_note = page.get_by_role("region", name="Minutes").get_by_role("status")
    page.get_by_role("button", name="Add an action item").click()
    item = page.locator(".action").last
    expect(item.get_by_label("Owner")).to_have_value(label)
    expect(item.get_by_label("Owner").locator("option:checked")).to_have_text("Alice Smith")
    item.get_by_label("Task").fill("Send the cleaning report")
    item.get_by_label("Due").fill("2026-12-01")
    page.get_by_role("button", name="Add a decision").click()
    page.get_by_label("Decision 1").fill("The suit goes to the cleaners")
    page.get_by_role("button", name="Save minutes").click()
    expect(saved_note).to_have_text("Minutes saved.")
    minutes = served.client.meeting(meeting_id)["result"]["minutes"]
    assert minutes["decisions"] == ["The suit goes to the cleaners"]
    [saved] = minutes["action_items"]
    assert (saved["owner"], saved["task"], saved["due"]) == (
        label,
        "Send the cleaning report",
        "2026-12-01",
    )

    page.reload()
    item = page.locator(".action").last
    expect(item.get_by_label("Task")).to_have_value("Send the cleaning report")
    item.get_by_label("Due").fill("Friday")
    page.get_by_role("button", name="Save minutes").click()
    expect(saved_note).to_have_text("Minutes saved.")
    [edited] = served.client.meeting(meeting_id)["result"]["minutes"]["action_items"]
    assert edited["due"] == "Friday" and edited["task"] == "Send the cleaning report"
    served.shot(page, "meeting")


def _docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    cells = [c.text for table in document.tables for row in table.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


EXPORT_CHECKS: dict[str, Callable[[bytes], bool]] = {
    "Markdown": lambda data: "Send the cleaning report" in data.decode(),
    "SRT": lambda data: "-->" in data.decode() and "dark suit" in data.decode().lower(),
    "VTT": lambda data: data.decode().startswith("WEBVTT") and "dark suit" in data.decode(),
    "JSON": lambda data: (
        json.loads(data)["minutes"]["action_items"][0]["task"] == "Send the cleaning report"
    ),
    "DOCX": lambda data: "Send the cleaning report" in _docx_text(data),
}


@pytest.mark.parametrize("label", list(EXPORT_CHECKS))
def test_export_buttons_download_each_format(page: Page, served: Served, label: str) -> None:
    meeting_id = completed_meeting(served, DARK_SUIT, "LDC93S1")
    minutes = served.client.meeting(meeting_id)["result"]["minutes"]
    if not minutes["action_items"]:  # this test alone: give the exports an item to carry
        minutes["action_items"] = [
            {"owner": "S1", "task": "Send the cleaning report", "due": None,
             "evidence": {"start": 0.5, "end": 1.0}}
        ]  # fmt: skip
        served.client.http.patch(f"/v1/meetings/{meeting_id}", json={"minutes": minutes})
    page.goto(f"{served.url}/app/#/meetings/{meeting_id}")
    with page.expect_download() as info:
        page.get_by_role("button", name=f"Download as {label}").click()
    download = info.value
    assert download.suggested_filename
    data = Path(download.path()).read_bytes()
    assert EXPORT_CHECKS[label](data), (label, data[:300])


def test_search_finds_a_passage_and_opens_the_meeting_at_that_moment(
    page: Page, served: Served
) -> None:
    meeting_id = completed_meeting(served, DARK_SUIT, "LDC93S1")
    page.get_by_role("link", name="Search").click()
    expect(page.get_by_role("heading", name="Search", level=1)).to_be_visible()
    box = page.get_by_label("Search all meetings")

    def found() -> bool:
        # Indexing follows completion by a moment: search again until the hit is there.
        box.fill("greasy wash water")
        page.get_by_role("button", name="Search", exact=True).click()
        page.locator(".count").wait_for()
        return page.locator(".hit", has_text=re.compile("greasy", re.I)).count() > 0

    poll(found, 60, "the meeting to be searchable", interval=2)
    hit = page.locator(".hit", has_text=re.compile("greasy", re.I)).first
    expect(hit.get_by_role("link", name="LDC93S1")).to_be_visible()
    served.shot(page, "search")
    hit.locator(".jump").click()
    expect(page).to_have_url(re.compile(rf"#/meetings/{meeting_id}\?t="))
    moment = float(page.url.rsplit("t=", 1)[1])
    current = page.locator(".transcript li.current")
    expect(current).to_contain_text(re.compile("greasy", re.I))
    poll(
        lambda: abs(page.locator("audio").evaluate("a => a.currentTime") - moment) < 0.5,
        20,
        "the player to be at the hit",
    )
    expect(current.locator(".line")).to_be_focused()


def test_the_ui_switches_to_russian(page: Page, served: Served) -> None:
    completed_meeting(served, DARK_SUIT, "LDC93S1")
    page.get_by_label("Interface language").select_option("ru")
    expect(page.get_by_role("heading", name="Встречи", level=1)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("link", name="Поиск")).to_be_visible()
    expect(_row(page, "LDC93S1").locator(".badge")).to_have_text("Готово")
    served.shot(page, "meetings-ru")
    page.reload()  # the choice is remembered
    expect(page.get_by_role("heading", name="Загрузка записей")).to_be_visible()
    page.get_by_label("Язык интерфейса").select_option("en")
    expect(page.get_by_role("heading", name="Meetings", level=1)).to_be_visible()


def test_another_tenant_sees_no_meetings_and_cannot_open_one(
    browser: Browser, served: Served
) -> None:
    meeting_id = completed_meeting(served, DARK_SUIT, "LDC93S1")
    context = new_context(browser)
    try:
        page = context.new_page()
        sign_in(page, served, served.other_key)
        expect(page.get_by_text("No meetings yet.")).to_be_visible()
        page.goto(f"{served.url}/app/#/meetings/{meeting_id}")
        expect(
            page.get_by_text("This meeting does not exist or you have no access to it.")
        ).to_be_visible()
    finally:
        context.close()


def test_phone_width_meeting_page_fits_without_sideways_scrolling(
    browser: Browser, served: Served
) -> None:
    meeting_id = completed_meeting(served, DARK_SUIT, "LDC93S1")
    context = new_context(browser, viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        sign_in(page, served)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.goto(f"{served.url}/app/#/meetings/{meeting_id}")
        expect(page.locator(".transcript .line").first).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # On a phone the player comes before the transcript.
        player_y = page.locator("audio").bounding_box()
        text_y = page.locator(".transcript").bounding_box()
        assert player_y and text_y and player_y["y"] < text_y["y"]
        served.shot(page, "meeting-phone")
    finally:
        context.close()


def test_delete_asks_first_and_cancel_keeps_the_meeting(page: Page, served: Served) -> None:
    meeting_id = completed_meeting(served, FLEURS, "fleurs-en-003")
    page.goto(f"{served.url}/app/#/meetings/{meeting_id}")
    page.get_by_role("button", name="Delete meeting").click()
    dialog = page.get_by_role("dialog", name="Delete this meeting?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert served.client.http.get(f"/v1/meetings/{meeting_id}").status_code == 200

    page.get_by_role("button", name="Delete meeting").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Meetings", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="fleurs-en-003", exact=True)).to_have_count(0)
    assert served.client.http.get(f"/v1/meetings/{meeting_id}").status_code == 404
    assert meeting_titled(served, "fleurs-en-003") is None
