"""The full path: `POST /v1/bots` on a real `minuta serve` launches this bot as a local process
(the controller's LocalProcessBackend); it joins the Janus meeting, records two participants,
uploads; the bot ends `done` and its meeting is transcribed by the worker, its speakers named
from the participants' display names (the page's speaking timeline against the diarization).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ml_controller.metrics import word_error_rate
from testkit.meeting.conversation import ASR_EN, TURNS, build_conversation
from testkit.meeting.janus_server import JANUS_NETWORKS
from testkit.meeting.meeting_server import MeetingServer
from testkit.meeting.participants import participants
from testkit.processes import Client, ServeProcess, Stack, serving, transcript

SHORT = TURNS[:2]  # ~27 s: JFK, then a FLEURS clip
NAMES = {"A": "Alice", "B": "Bob"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Client]]:
    with serving(
        Stack(tmp_path_factory.mktemp("bot-serve")),
        MINUTA_BOT_HEARTBEAT_SECONDS="2",
        MINUTA_BOT_CONTROLLER_POLL_SECONDS="0.5",
        MINUTA_BOT_ALONE_TIMEOUT_SECONDS="60",
        # The test meeting is on loopback and Janus on its veth: named, as an intranet would be.
        MINUTA_EGRESS_ALLOW_CIDRS=f"127.0.0.0/8,::1/128,{JANUS_NETWORKS}",
    ) as served:
        yield served


def _bot(client: Client, bot_id: str) -> dict[str, Any]:
    answer = client.http.get(f"/v1/bots/{bot_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _wait_bot(
    client: Client, bot_id: str, states: set[str], timeout: float, process: ServeProcess
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (bot := _bot(client, bot_id))["state"] not in states:
        assert time.monotonic() < deadline, f"bot {bot}\n{process.tail()}"
        time.sleep(0.5)
    return bot


def _spoken_by(turns: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Each participant's words, from the clips' references (not from the timeline)."""
    references = {
        row["file"]: row["text"]
        for row in map(json.loads, (ASR_EN / "references.jsonl").read_text().splitlines())
    }
    words: dict[str, list[str]] = {}
    for speaker, clip in turns:
        words.setdefault(NAMES[speaker], []).append(str(references[clip]))
    return {name: " ".join(said) for name, said in words.items()}


def _named_correctly(meeting: dict[str, Any], spoken: dict[str, str]) -> tuple[int, list[str]]:
    """How many participants name the speaker whose words are theirs (closest by WER), and
    every platform name given, as "label=name"."""
    given = {
        s["id"]: s["name"] for s in meeting["result"]["speakers"] if s.get("named_by") == "platform"
    }
    correct = 0
    for label, name in given.items():
        text = " ".join(
            s["text"] for s in meeting["result"]["segments"] if s["speaker"] == label
        ).lower()
        closest = min(spoken, key=lambda who: word_error_rate([spoken[who]], [text]))
        correct += closest == name
    return correct, [f"{label}={name}" for label, name in sorted(given.items())]


def test_a_bot_posted_to_the_api_records_the_meeting_and_ends_done(
    served: tuple[ServeProcess, Client], meetings: MeetingServer, room_id: int, tmp_path: Path
) -> None:
    process, client = served
    conversation = build_conversation(tmp_path / "speech", SHORT)
    meetings.room(room_id)
    created = client.http.post(
        "/v1/bots",
        json={
            "meeting_url": meetings.url(room_id),
            "bot_name": "Minuta notetaker",
            "title": "Janus stand-up",
        },
    )
    assert created.status_code in (200, 201, 202), created.text
    bot_id = created.json()["id"]
    _wait_bot(client, bot_id, {"recording", "failed"}, 90, process)
    people = {NAMES[s]: wav for s, wav in conversation.speaker_wavs.items()}
    with participants(meetings.url(room_id), people):
        time.sleep(conversation.duration + 1.0)
        meetings.end(room_id)
        bot = _wait_bot(client, bot_id, {"done", "failed"}, 90, process)
    assert bot["state"] == "done", bot
    assert sorted(bot["timeline"]["participants"]) == ["Alice", "Bob"]
    assert {span["name"] for span in bot["timeline"]["speaking"]} == {"Alice", "Bob"}
    meeting_id = bot["meeting_id"]
    assert meeting_id
    meeting = client.wait_finished(meeting_id, 240, watch=[process])
    assert meeting["status"] == "completed", meeting["error"]
    wer = word_error_rate([conversation.reference], [transcript(meeting)])
    print(f"full path WER {wer:.3f}")
    assert wer < 0.15, transcript(meeting)
    spoken = _spoken_by(SHORT)
    correct, given = _named_correctly(meeting, spoken)
    print(f"platform names: {correct}/{len(spoken)} participants named correctly ({given})")
    assert correct == len(spoken) == len(given), (given, meeting["result"]["speakers"])
