"""`/v1/bots` in process (httpx → ASGI) on the real database and storage: the tenant's API, the
bot's callbacks, the state machine, the recording upload and the calendar import."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from services.api.db.models import Bot, Meeting, OutboxJob
from services.bots.controller.settings import ControllerSettings
from services.bots.tokens import hash_token, new_token
from tests.local_http import local_http_server
from tests.services.api.conftest import BACKENDS, ApiStack, make_settings, open_stack

pytestmark = pytest.mark.anyio

FAKE_BOT = Path(__file__).resolve().parent / "controller" / "fake_bot.py"


def controller_settings(tmp_path: Path, **extra: Any) -> ControllerSettings:
    values: dict[str, Any] = {
        "bot_command": [sys.executable, str(FAKE_BOT)],
        "bot_spec_dir": tmp_path / "bots",
        "public_api_url": "http://api.test",
        "bot_concurrency": 2,
        **extra,
    }
    return ControllerSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def bots(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiStack]:
    backend = getattr(request, "param", "sqlite-local")
    settings = make_settings(backend, request, tmp_path)
    # The tests' calendar server listens on loopback: make_settings allows it explicitly.
    controller = controller_settings(tmp_path)
    async with open_stack(settings, controller_settings=controller) as opened:
        yield opened


async def arm(stack: ApiStack, bot_id: str, state: str = "launching") -> dict[str, str]:
    """Put the bot where the controller would after a launch; the bot's callback headers."""
    token = new_token()
    async with stack.ctx.sessionmaker() as session, session.begin():
        await session.execute(
            update(Bot)
            .where(Bot.id == uuid.UUID(bot_id))
            .values(state=state, token_hash=hash_token(token), last_heartbeat_at=datetime.now(UTC))
        )
    return {"Authorization": f"Bot {token}"}


@pytest.mark.parametrize("bots", BACKENDS, indirect=True)
async def test_tenants_create_read_list_and_cancel_only_their_own_bots(bots: ApiStack) -> None:
    acme, globex = await bots.tenant("acme"), await bots.tenant("globex")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    made = await bots.client.post(
        "/v1/bots",
        headers=acme,
        json={"meeting_url": "https://meet.google.com/abc-defg-hij", "join_at": later},
    )
    assert made.status_code == 201, made.text
    bot = made.json()
    assert bot["state"] == "scheduled" and bot["platform"] == "google_meet"
    assert bot["bot_name"] == "Minuta notetaker" and bot["meeting_id"] is None

    assert (await bots.client.get(f"/v1/bots/{bot['id']}", headers=acme)).json()["id"] == bot["id"]
    assert (await bots.client.get(f"/v1/bots/{bot['id']}", headers=globex)).status_code == 404
    assert (await bots.client.delete(f"/v1/bots/{bot['id']}", headers=globex)).status_code == 404
    assert (await bots.client.get("/v1/bots", headers=globex)).json()["items"] == []
    assert [b["id"] for b in (await bots.client.get("/v1/bots", headers=acme)).json()["items"]] == [
        bot["id"]
    ]
    assert (await bots.client.get("/v1/bots")).status_code == 401

    cancelled = (await bots.client.delete(f"/v1/bots/{bot['id']}", headers=acme)).json()
    assert cancelled["state"] == "failed" and cancelled["reason"] == "cancelled"
    assert cancelled["expected_failure"] is True


async def test_bad_requests_get_clear_422_messages(bots: ApiStack) -> None:
    acme = await bots.tenant()
    cases = [
        ({"meeting_url": "ftp://example.org/room"}, "http or https"),
        ({"meeting_url": "javascript:alert(1)"}, "http or https"),
        ({"meeting_url": "https://"}, "no host"),
        ({"meeting_url": "https://x.org/a", "join_at": "2030-01-01T10:00:00"}, "time zone"),
        ({"meeting_url": "https://x.org/a", "max_duration": 0}, "greater than 0"),
        ({"meeting_url": "https://x.org/a", "surprise": 1}, "Extra inputs"),
    ]
    for body, message in cases:
        answer = await bots.client.post("/v1/bots", headers=acme, json=body)
        assert answer.status_code == 422, body
        assert message in answer.text, answer.text


async def test_callbacks_need_the_bots_own_token(bots: ApiStack) -> None:
    acme = await bots.tenant()
    ids = [
        (
            await bots.client.post(
                "/v1/bots", headers=acme, json={"meeting_url": "https://x.org/1"}
            )
        ).json()["id"]
        for _ in range(2)
    ]
    first, second = await arm(bots, ids[0]), await arm(bots, ids[1])
    beat = f"/v1/bots/{ids[0]}/heartbeat"
    assert (await bots.client.post(beat)).status_code == 401
    assert (await bots.client.post(beat, headers=acme)).status_code == 401  # a tenant key
    assert (await bots.client.post(beat, headers=second)).status_code == 403  # another bot's
    assert (
        await bots.client.post(beat, headers={"Authorization": "Bot bt_nope"})
    ).status_code == 403
    assert (
        await bots.client.post(f"/v1/bots/{uuid.uuid4()}/heartbeat", headers=first)
    ).status_code == 403
    assert (await bots.client.post(beat, headers=first)).json() == {"leave": False}


async def test_states_move_only_forward_and_terminal_states_stay(bots: ApiStack) -> None:
    acme = await bots.tenant()
    bot_id = (
        await bots.client.post("/v1/bots", headers=acme, json={"meeting_url": "https://x.org/1"})
    ).json()["id"]
    auth = await arm(bots, bot_id)
    url = f"/v1/bots/{bot_id}/events"

    async def send(state: str, **extra: Any) -> Any:
        return await bots.client.post(url, headers=auth, json={"state": state, **extra})

    assert (await send("recording")).status_code == 409  # launching cannot skip joining
    assert (await send("joining")).json()["state"] == "joining"
    assert (await send("joining")).status_code == 200  # repeated: idempotent
    assert (await send("waiting_room")).json()["state"] == "waiting_room"
    assert (await send("joining")).status_code == 409  # never backwards
    assert (await send("done")).status_code == 409
    failed = await send("failed", reason="not_admitted", detail="nobody let us in")
    assert failed.json()["state"] == "failed" and failed.json()["reason"] == "not_admitted"
    assert failed.json()["expected_failure"] is True
    assert (await send("failed", reason="not_admitted")).status_code == 200
    refused = await send("recording")
    assert refused.status_code == 409 and "already failed" in refused.text
    # A reaped or finished bot is told to stop at its next heartbeat.
    assert (await bots.client.post(f"/v1/bots/{bot_id}/heartbeat", headers=auth)).json() == {
        "leave": True
    }
    assert (await bots.client.get(f"/v1/bots/{bot_id}", headers=acme)).json()["state"] == "failed"


async def test_delete_sets_the_leave_flag_of_a_running_bot(bots: ApiStack) -> None:
    acme = await bots.tenant()
    bot_id = (
        await bots.client.post("/v1/bots", headers=acme, json={"meeting_url": "https://x.org/1"})
    ).json()["id"]
    auth = await arm(bots, bot_id, state="recording")
    beat = f"/v1/bots/{bot_id}/heartbeat"
    assert (await bots.client.post(beat, headers=auth)).json() == {"leave": False}
    left = (await bots.client.delete(f"/v1/bots/{bot_id}", headers=acme)).json()
    assert left["state"] == "recording" and left["leave_requested"] is True
    assert (await bots.client.post(beat, headers=auth)).json() == {"leave": True}


@pytest.mark.parametrize("bots", BACKENDS, indirect=True)
async def test_recording_upload_makes_a_queued_meeting_once(
    bots: ApiStack, audio_dir: Path
) -> None:
    acme = await bots.tenant()
    bot_id = (
        await bots.client.post(
            "/v1/bots", headers=acme, json={"meeting_url": "https://x.org/1", "title": "Standup"}
        )
    ).json()["id"]
    auth = await arm(bots, bot_id, state="uploading")
    clip = audio_dir / "asr_en" / "jfk.flac"
    timeline = '{"participants": ["Alice"], "speaking": [{"name": "Alice", "start": 0, "end": 3}]}'

    async def upload() -> Any:
        with clip.open("rb") as audio:
            return await bots.client.post(
                f"/v1/bots/{bot_id}/recording",
                headers=auth,
                files={"file": ("jfk.flac", audio, "application/octet-stream")},
                data={"timeline": timeline},
            )

    bad = await bots.client.post(
        f"/v1/bots/{bot_id}/recording",
        headers=auth,
        files={"file": ("x.wav", b"this is not audio at all" * 100, "audio/wav")},
    )
    assert bad.status_code == 415
    first = await upload()
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["state"] == "done" and body["meeting_id"]
    assert body["timeline"]["participants"] == ["Alice"]
    again = (await upload()).json()  # a retry after a lost answer: no second meeting
    assert again["meeting_id"] == body["meeting_id"]

    meeting = (await bots.client.get(f"/v1/meetings/{body['meeting_id']}", headers=acme)).json()
    assert meeting["status"] == "queued" and meeting["title"] == "Standup"
    assert meeting["audio"]["content_type"] == "audio/flac"
    async with bots.ctx.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Meeting)) == 1
        assert await session.scalar(select(func.count()).select_from(OutboxJob)) == 1
    other = await bots.tenant("globex")
    assert (
        await bots.client.get(f"/v1/meetings/{body['meeting_id']}", headers=other)
    ).status_code == 404


def _ics(*events: str) -> bytes:
    body = "".join(
        f"BEGIN:VEVENT\r\n{e.strip().replace(chr(10), chr(13) + chr(10))}\r\nEND:VEVENT\r\n"
        for e in events
    )
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n".encode()
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@pytest.fixture
def ics_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    files: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files.get(self.path)
            if data is not None and data.startswith(b"redirect:"):
                self.send_response(302)
                self.send_header("Location", data.removeprefix(b"redirect:").decode())
                self.end_headers()
                return
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *_: Any) -> None:
            pass

    with local_http_server(Handler) as url:
        yield url, files


async def test_calendar_import_is_idempotent_by_uid(
    bots: ApiStack, ics_server: tuple[str, dict[str, bytes]]
) -> None:
    acme, globex = await bots.tenant("acme"), await bots.tenant("globex")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    weekly = f"UID:weekly-1\nDTSTART:{_stamp(start)}\nSUMMARY:Weekly\nDESCRIPTION:Join https://meet.google.com/abc-defg-hij."
    jitsi = f"UID:jitsi-2\nDTSTART:{_stamp(start)}\nLOCATION:https://meet.jit.si/MinutaRoom"
    room = f"UID:room-3\nDTSTART:{_stamp(start)}\nLOCATION:https://video.example.org/r/42"
    lunch = f"UID:lunch-4\nDTSTART:{_stamp(start)}\nLOCATION:Cafeteria"
    allday = "UID:off-5\nDTSTART;VALUE=DATE:20300101\nURL:https://zoom.us/j/123"
    past = f"UID:old-6\nDTSTART:{_stamp(start - timedelta(days=30))}\nURL:https://zoom.us/j/1"
    calendar = _ics(weekly, jitsi, room, lunch, allday, past)

    async def upload(data: bytes, headers: dict[str, str]) -> Any:
        answer = await bots.client.post(
            "/v1/bots/calendar", headers=headers, files={"file": ("cal.ics", data, "text/calendar")}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = await upload(calendar, acme)
    assert sorted(b["calendar_uid"] for b in first["created"]) == ["jitsi-2", "room-3", "weekly-1"]
    assert {b["platform"] for b in first["created"]} == {"google_meet", "jitsi", None}
    assert all(
        b["join_at"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S")) for b in first["created"]
    )
    assert sorted(s["uid"] for s in first["skipped"]) == ["lunch-4", "off-5", "old-6"]

    again = await upload(calendar, acme)
    assert again["created"] == [] and again["unchanged"] == 3
    moved = weekly.replace(_stamp(start), _stamp(start + timedelta(hours=2)))
    cancelled = jitsi + "\nSTATUS:CANCELLED"
    ics_server[1]["/cal.ics"] = _ics(moved, cancelled, room)
    fetched = await bots.client.post(
        "/v1/bots/calendar", headers=acme, json={"ics_url": f"{ics_server[0]}/cal.ics"}
    )
    assert fetched.status_code == 200, fetched.text
    changed = {b["calendar_uid"]: b for b in fetched.json()["updated"]}
    assert changed["weekly-1"]["state"] == "scheduled"
    assert changed["jitsi-2"]["state"] == "failed" and changed["jitsi-2"]["reason"] == "cancelled"
    assert len((await bots.client.get("/v1/bots", headers=acme)).json()["items"]) == 3

    # Another tenant importing the same calendar gets bots of its own.
    assert len((await upload(calendar, globex))["created"]) == 3

    bad = await bots.client.post(
        "/v1/bots/calendar",
        headers=acme,
        files={"file": ("x.ics", b"not a calendar", "text/calendar")},
    )
    assert bad.status_code == 422 and "iCalendar" in bad.text
    missing = await bots.client.post(
        "/v1/bots/calendar", headers=acme, json={"ics_url": f"{ics_server[0]}/nope.ics"}
    )
    assert missing.status_code == 422 and "404" in missing.text
    ftp = await bots.client.post("/v1/bots/calendar", headers=acme, json={"ics_url": "ftp://x/y"})
    assert ftp.status_code == 422


async def test_calendar_url_redirects_are_checked_hop_by_hop(
    bots: ApiStack, ics_server: tuple[str, dict[str, bytes]]
) -> None:
    acme = await bots.tenant("acme")
    base, files = ics_server
    files["/to-ftp"] = b"redirect:ftp://files.example.org/cal.ics"
    files["/loop"] = b"redirect:/loop"
    ftp = await bots.client.post(
        "/v1/bots/calendar", headers=acme, json={"ics_url": f"{base}/to-ftp"}
    )
    assert ftp.status_code == 422 and "http or https" in ftp.text
    loop = await bots.client.post(
        "/v1/bots/calendar", headers=acme, json={"ics_url": f"{base}/loop"}
    )
    assert loop.status_code == 422 and "redirects more than" in loop.text


async def test_calendar_url_inside_the_network_is_refused_by_default(
    request: pytest.FixtureRequest, tmp_path: Path, ics_server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = ics_server
    files["/cal.ics"] = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    settings = make_settings("sqlite-local", request, tmp_path, egress_allow_cidrs="")
    async with open_stack(settings, controller_settings=controller_settings(tmp_path)) as stack:
        acme = await stack.tenant("acme")
        for url, says in (
            (f"{base}/cal.ics", "loopback"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://10.1.2.3/", "private network"),
            ("http://localhost:1/cal.ics", "loopback"),
            ("http://user:secret@calendar.example.com/cal.ics", "user name or password"),
        ):
            answer = await stack.client.post(
                "/v1/bots/calendar", headers=acme, json={"ics_url": url}
            )
            assert answer.status_code == 422, url
            assert says in str(answer.json()["detail"]), (url, answer.text)


INWARD_MEETING_URLS = [
    "http://127.0.0.1:8000/",
    "https://localhost/room",
    "http://[::1]/room",
    "http://[::ffff:127.0.0.1]/room",
    "http://2130706433/room",
    "http://0x7f000001/room",
    "http://127.1/room",
    "http://0.0.0.0:5432/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.8:15672/",
    "http://[fd00::8]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "https://user:secret@meet.example.com/room",
]


async def test_bots_are_never_sent_inward(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Without MINUTA_EGRESS_ALLOW_CIDRS every inward meeting_url is a 422 and no bot is made;
    a calendar's inward links are skipped with the reason."""
    settings = make_settings("sqlite-local", request, tmp_path, egress_allow_cidrs="")
    async with open_stack(settings, controller_settings=controller_settings(tmp_path)) as stack:
        acme = await stack.tenant("acme")
        for url in INWARD_MEETING_URLS:
            answer = await stack.client.post("/v1/bots", headers=acme, json={"meeting_url": url})
            assert answer.status_code == 422, (url, answer.text)
            assert "meeting_url" in str(answer.json()["detail"]), answer.text
        assert (await stack.client.get("/v1/bots", headers=acme)).json()["items"] == []

        start = datetime.now(UTC) + timedelta(days=1)
        calendar = _ics(
            f"UID:inward-1\nDTSTART:{_stamp(start)}\nLOCATION:https://10.0.0.8/meet/room",
            f"UID:inward-2\nDTSTART:{_stamp(start)}\nURL:https://meet.google.com@127.0.0.1/abc",
            f"UID:meta-3\nDTSTART:{_stamp(start)}\nLOCATION:https://169.254.169.254/x",
            f"UID:public-4\nDTSTART:{_stamp(start)}\nURL:https://meet.google.com/abc-defg-hij",
        )
        answer = await stack.client.post(
            "/v1/bots/calendar",
            headers=acme,
            files={"file": ("cal.ics", calendar, "text/calendar")},
        )
        assert answer.status_code == 200, answer.text
        outcome = answer.json()
        assert [b["calendar_uid"] for b in outcome["created"]] == ["public-4"]
        skipped = {s["uid"]: s["why"] for s in outcome["skipped"]}
        assert set(skipped) == {"inward-1", "inward-2", "meta-3"}
        assert "private network" in skipped["inward-1"]
        assert "link-local" in skipped["meta-3"]
