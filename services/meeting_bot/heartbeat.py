"""Heartbeats on a thread of their own, so a busy browser never makes the bot look dead."""

from __future__ import annotations

import logging
import threading

import httpx

from services.meeting_bot.client import BotApiClient

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, client: BotApiClient, every: float) -> None:
        self.client = client
        self.every = every
        self.leave_requested = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bot-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.client.heartbeat().leave:
                    self.leave_requested.set()
            except (httpx.HTTPError, ValueError) as error:
                log.warning("heartbeat failed: %s", error)
            self._stop.wait(self.every)
