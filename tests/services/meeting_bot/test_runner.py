"""Each way a bot's life can end, against the real Janus test meeting and the real entry point."""

from __future__ import annotations

import time
from pathlib import Path

from testkit.meeting.bot import start_bot
from testkit.meeting.meeting_server import MeetingServer
from testkit.meeting.participants import participants
from testkit.processes import free_port

BOT = "Minuta notetaker"


def test_a_bot_never_admitted_fails_as_not_admitted(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    meetings.room(room_id, waiting_room=True)
    run = start_bot(tmp_path, meetings.url(room_id), admission_timeout=3)
    try:
        assert run.wait_exit(60) == 0, run.log()
        assert run.receiver.states() == ["joining", "waiting_room", "failed"]
        assert run.last_event().reason == "not_admitted"
        assert BOT in meetings.rooms[room_id].knocked  # it really knocked, under its name
        assert run.receiver.received.recording is None
    finally:
        run.close()


def test_a_meeting_that_already_ended_fails_as_meeting_ended(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    meetings.room(room_id)
    meetings.end(room_id)
    run = start_bot(tmp_path, meetings.url(room_id))
    try:
        assert run.wait_exit(60) == 0, run.log()
        assert run.receiver.states() == ["joining", "failed"]
        assert run.last_event().reason == "meeting_ended"
    finally:
        run.close()


def test_a_page_that_does_not_load_fails_as_unreachable(tmp_path: Path) -> None:
    run = start_bot(tmp_path, f"http://127.0.0.1:{free_port()}/meeting.html?room=1")
    try:
        assert run.wait_exit(60) == 0, run.log()
        assert run.receiver.states() == ["joining", "failed"]
        assert run.last_event().reason == "unreachable"
        # A code: the browser's words (ERR_CONNECTION_REFUSED) would map the network's ports.
        assert run.last_event().detail == "page_load_failed"
        assert "ERR_CONNECTION_REFUSED" in run.log()  # kept in the bot's own log
    finally:
        run.close()


def test_an_inward_meeting_link_is_refused_before_the_browser_opens(tmp_path: Path) -> None:
    """Without an allow-list the bot checks the link at use and never opens it."""
    url = f"http://127.0.0.1:{free_port()}/meeting.html?room=1"
    run = start_bot(tmp_path, url, egress_allow_cidrs=[])
    try:
        assert run.wait_exit(60) == 0, run.log()
        assert run.receiver.states() == ["joining", "failed"]
        assert run.last_event().reason == "unreachable"
        assert run.last_event().detail == "egress_refused"
    finally:
        run.close()


def test_a_bot_that_cannot_start_its_browser_reports_crashed_and_exits_non_zero(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    meetings.room(room_id)
    run = start_bot(
        tmp_path, meetings.url(room_id), env={"MINUTA_CHROMIUM": str(tmp_path / "no-such-chromium")}
    )
    try:
        assert run.wait_exit(60) == 1
        assert run.receiver.states() == ["joining", "failed"]
        assert run.last_event().reason == "crashed"
    finally:
        run.close()


def test_an_admitted_bot_left_alone_leaves_after_alone_timeout_and_uploads(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    meetings.room(room_id, waiting_room=True)
    run = start_bot(tmp_path, meetings.url(room_id), admission_timeout=30, alone_timeout=2)
    try:
        run.wait_for("waiting_room", 30)
        meetings.admit(room_id, BOT)
        run.wait_for("recording", 20)
        began = time.monotonic()
        assert run.wait_exit(30) == 0, run.log()
        assert 2 <= time.monotonic() - began < 15
        assert run.receiver.states() == ["joining", "waiting_room", "recording", "uploading"]
        assert "everyone else left" in run.log()
        assert run.receiver.received.recording is not None
        assert run.receiver.received.recording.read_bytes()[:4] == b"\x1aE\xdf\xa3"  # webm
    finally:
        run.close()


def test_a_bot_asked_to_leave_by_heartbeat_stops_and_uploads(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    meetings.room(room_id)
    run = start_bot(tmp_path, meetings.url(room_id), alone_timeout=60)
    try:
        with participants(meetings.url(room_id), {"Carol": None}):
            run.wait_for("recording", 30)
            time.sleep(2)
            run.receiver.leave = True
            assert run.wait_exit(30) == 0, run.log()
        assert "asked to leave" in run.log()
        assert run.receiver.states()[-1] == "uploading"
        timeline = run.receiver.received.timeline
        assert timeline is not None and timeline.participants == ["Carol"]
    finally:
        run.close()


def test_a_bot_leaves_at_max_duration(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    meetings.room(room_id)
    run = start_bot(tmp_path, meetings.url(room_id), alone_timeout=60, max_duration=3)
    try:
        assert run.wait_exit(60) == 0, run.log()
        assert "max duration reached" in run.log()
        assert run.receiver.states()[-1] == "uploading"
    finally:
        run.close()


def test_sigterm_makes_the_bot_leave_and_upload_what_it_recorded(
    meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    meetings.room(room_id)
    run = start_bot(tmp_path, meetings.url(room_id), alone_timeout=60)
    try:
        with participants(meetings.url(room_id), {"Dan": None}):
            run.wait_for("recording", 30)
            time.sleep(2)
            run.process.terminate()  # what a runner's stop does first
            assert run.wait_exit(30) == 0, run.log()
        assert run.receiver.states()[-1] == "uploading"
        assert run.receiver.received.recording is not None
    finally:
        run.close()
