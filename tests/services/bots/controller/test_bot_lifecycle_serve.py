"""A real `minuta serve` whose controller launches real bot processes (the protocol stand-in
`fake_bot.py`, since the Playwright bot is built separately): the recording goes through the
real pipeline to a completed meeting linked to a `done` bot; a killed runner is failed(crashed);
a bot told to leave leaves."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testkit.processes import AUDIO, Client, ServeProcess, Stack, serving

FAKE_BOT = Path(__file__).resolve().parent / "fake_bot.py"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, Client]]:
    with serving(
        Stack(tmp_path_factory.mktemp("bots")),
        MINUTA_BOT_COMMAND=json.dumps([sys.executable, str(FAKE_BOT)]),
        MINUTA_BOT_HEARTBEAT_SECONDS="0.5",
        MINUTA_BOT_CONTROLLER_POLL_SECONDS="0.5",
        MINUTA_BOT_CONCURRENCY="3",
        # The stand-in never opens its meeting URL, but the API checks it: loopback, allowed.
        MINUTA_EGRESS_ALLOW_CIDRS="127.0.0.0/8,::1/128",
    ) as served:
        yield served


def _wait_bot(
    client: Client, bot_id: str, states: set[str], process: ServeProcess, timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        bot: dict[str, Any] = client.http.get(f"/v1/bots/{bot_id}").json()
        if bot["state"] in states:
            return bot
        assert time.monotonic() < deadline, f"bot stuck in {bot}\n{process.tail()}"
        assert process.alive, process.tail()
        time.sleep(0.3)


def _runner_pid(process: ServeProcess, bot_id: str) -> int:
    import sqlite3

    db = Path(process.log_path).parents[1] / "data" / "minuta.db"
    with sqlite3.connect(db) as conn:
        for row_id, handle in conn.execute("SELECT id, runner_handle FROM bots"):
            if str(row_id).replace("-", "") == bot_id.replace("-", "") and handle:
                return int(handle.split(":")[0])
    raise KeyError(bot_id)


def test_a_bot_recording_runs_through_the_real_pipeline(
    served: tuple[ServeProcess, Client],
) -> None:
    process, client = served
    clip = AUDIO / "asr_en" / "jfk.flac"
    made = client.http.post(
        "/v1/bots", json={"meeting_url": f"http://127.0.0.1:9/record?clip={clip}", "title": "JFK"}
    )
    assert made.status_code == 201, made.text
    bot = _wait_bot(client, made.json()["id"], {"done", "failed"}, process)
    assert bot["state"] == "done", bot
    assert bot["timeline"]["participants"] == ["Alice", "Bob"]
    meeting = client.wait_finished(bot["meeting_id"], 180, watch=[process])
    assert meeting["status"] == "completed" and meeting["title"] == "JFK"
    text = " ".join(s["text"] for s in meeting["result"]["segments"]).lower()
    assert "ask not what your country can do for you" in text


def test_killed_runner_is_crashed_and_leave_is_obeyed(
    served: tuple[ServeProcess, Client],
) -> None:
    process, client = served
    ids = [
        client.http.post("/v1/bots", json={"meeting_url": "http://127.0.0.1:9/hang"}).json()["id"]
        for _ in range(2)
    ]
    for bot_id in ids:
        _wait_bot(client, bot_id, {"recording"}, process)
    os.kill(_runner_pid(process, ids[0]), signal.SIGKILL)
    crashed = _wait_bot(client, ids[0], {"done", "failed"}, process, timeout=30)
    assert crashed["state"] == "failed" and crashed["reason"] == "crashed"
    assert crashed["expected_failure"] is False

    left = client.http.delete(f"/v1/bots/{ids[1]}").json()
    assert left["leave_requested"] is True
    # The stand-in reports `uploading` once told to leave, then exits without a recording:
    # the controller sees its runner gone and fails it as crashed, with nothing left running.
    after = _wait_bot(client, ids[1], {"done", "failed"}, process, timeout=30)
    assert after["state"] == "failed" and "runner ended" in after["detail"]
