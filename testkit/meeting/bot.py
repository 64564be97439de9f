"""Runs the real bot entry point (`python -m services.meeting_bot`) against a local receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.bots.contracts import BotEvent
from testkit.meeting.bot_api_receiver import BotApiReceiver
from testkit.meeting.janus_server import JANUS_NETWORKS

REPO = Path(__file__).resolve().parents[2]


@dataclass
class BotRun:
    receiver: BotApiReceiver
    process: subprocess.Popen[bytes]
    log_path: Path

    def wait_for(self, state: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while state not in self.receiver.states():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"bot never reached {state}: {self.receiver.states()}\n{self.log()}"
                )
            time.sleep(0.2)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired as error:
            raise AssertionError(f"bot still running after {timeout} s\n{self.log()}") from error

    def last_event(self) -> BotEvent:
        return self.receiver.received.events[-1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.receiver.close()


def start_bot(
    folder: Path, meeting_url: str, env: dict[str, str] | None = None, **spec: Any
) -> BotRun:
    folder.mkdir(parents=True, exist_ok=True)
    bot_id, token = str(uuid.uuid4()), uuid.uuid4().hex
    receiver = BotApiReceiver(bot_id, token, folder)
    spec_path = folder / "spec.json"
    spec_path.write_text(
        json.dumps(
            {
                "bot_id": bot_id,
                "meeting_url": meeting_url,
                "api_url": receiver.url,
                "bot_token": token,
                "heartbeat_seconds": 1,
                # The test meeting and receiver listen on loopback and Janus on its veth: the bot
                # refuses both by default, so they are allowed here by name.
                "egress_allow_cidrs": ["127.0.0.0/8", "::1/128", JANUS_NETWORKS],
                **spec,
            }
        )
    )
    log_path = folder / "bot.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.meeting_bot",
                "--spec-file",
                str(spec_path),
                "--work-dir",
                str(folder / "work"),
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    return BotRun(receiver, process, log_path)
