"""The bot's side of the HTTP protocol in `services/bots/contracts.py`."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx

from services.bots.contracts import (
    BOT_AUTH_SCHEME,
    BotEvent,
    BotSpec,
    HeartbeatReply,
    ParticipantTimeline,
)

log = logging.getLogger(__name__)


class UploadFailed(RuntimeError):
    pass


def _retryable(error: Exception) -> bool:
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code >= 500 or error.response.status_code == 429
    return isinstance(error, httpx.TransportError)


class BotApiClient:
    def __init__(self, spec: BotSpec, timeout: float = 30.0) -> None:
        self.base = f"{spec.api_url.rstrip('/')}/v1/bots/{spec.bot_id}"
        self.http = httpx.Client(
            headers={"Authorization": f"{BOT_AUTH_SCHEME} {spec.bot_token}"}, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def _post(self, path: str, attempts: int, **kwargs: object) -> httpx.Response:
        delay = 1.0
        for attempt in range(1, attempts + 1):
            try:
                reply = self.http.post(f"{self.base}/{path}", **kwargs)  # type: ignore[arg-type]
                reply.raise_for_status()
                return reply
            except (httpx.HTTPStatusError, httpx.TransportError) as error:
                if attempt == attempts or not _retryable(error):
                    raise
                log.warning("POST %s failed (%s); retrying in %.0f s", path, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 15.0)
        raise AssertionError("unreachable")

    def event(self, event: BotEvent) -> bool:
        """Report a state; False when the API could not be told (the bot carries on regardless:
        the recording matters more than one lost state change)."""
        try:
            self._post(
                "events",
                4,
                content=event.model_dump_json(),
                headers={"Content-Type": "application/json"},
            )
            return True
        except httpx.HTTPError as error:
            log.error("could not report %s: %s", event.state, error)
            return False

    def heartbeat(self) -> HeartbeatReply:
        reply = self._post("heartbeat", 1)
        return HeartbeatReply.model_validate(reply.json() if reply.content else {})

    def upload(self, recording: Path, timeline: ParticipantTimeline) -> dict[str, object]:
        """Upload the recording and timeline, retrying transient failures for a few minutes."""
        try:
            with recording.open("rb") as audio:

                def send() -> httpx.Response:
                    audio.seek(0)
                    return self.http.post(
                        f"{self.base}/recording",
                        files={"file": (recording.name, audio, "audio/webm")},
                        data={"timeline": timeline.model_dump_json()},
                        timeout=300.0,
                    )

                delay = 2.0
                for attempt in range(1, 7):
                    try:
                        reply = send()
                        reply.raise_for_status()
                        body = reply.json() if reply.content else {}
                        return body if isinstance(body, dict) else {"reply": body}
                    except (httpx.HTTPStatusError, httpx.TransportError) as error:
                        if attempt == 6 or not _retryable(error):
                            raise
                        log.warning("upload failed (%s); retrying in %.0f s", error, delay)
                        time.sleep(delay)
                        delay = min(delay * 2, 30.0)
        except (httpx.HTTPError, json.JSONDecodeError) as error:
            raise UploadFailed(f"upload refused or failed: {error}") from error
        raise AssertionError("unreachable")
