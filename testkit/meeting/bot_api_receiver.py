"""A small stand-in for the API's bot endpoints: records what a bot reports and uploads.

It speaks the protocol of `services/bots/contracts.py` (bearer `Bot <token>`), so the bot can be
tested on its own, before and apart from the controller.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from services.bots.contracts import BOT_AUTH_SCHEME, BotEvent, HeartbeatReply, ParticipantTimeline


@dataclass
class Received:
    events: list[BotEvent] = field(default_factory=list)
    heartbeats: int = 0
    recording: Path | None = None
    timeline: ParticipantTimeline | None = None
    unauthorized: int = 0


class BotApiReceiver:
    def __init__(self, bot_id: str, token: str, folder: Path) -> None:
        self.bot_id = bot_id
        self.token = token
        self.folder = folder
        self.received = Received()
        self.leave = False
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def states(self) -> list[str]:
        with self.lock:
            return [str(event.state) for event in self.received.events]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(receiver: BotApiReceiver) -> type[BaseHTTPRequestHandler]:
    prefix = f"/v1/bots/{receiver.bot_id}/"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: str = "{}") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.headers.get("Authorization") != f"{BOT_AUTH_SCHEME} {receiver.token}":
                with receiver.lock:
                    receiver.received.unauthorized += 1
                self._reply(401, '{"detail": "bad bot token"}')
                return
            if not self.path.startswith(prefix):
                self._reply(404)
                return
            action = self.path[len(prefix) :]
            length = int(self.headers.get("Content-Length") or 0)
            if action == "events":
                event = BotEvent.model_validate_json(self.rfile.read(length))
                with receiver.lock:
                    receiver.received.events.append(event)
                self._reply(200)
            elif action == "heartbeat":
                self.rfile.read(length)
                with receiver.lock:
                    receiver.received.heartbeats += 1
                self._reply(200, HeartbeatReply(leave=receiver.leave).model_dump_json())
            elif action == "recording":
                parts = _multipart(self.headers["Content-Type"], self.rfile.read(length))
                path = receiver.folder / "uploaded.webm"
                path.write_bytes(parts["file"])
                timeline = ParticipantTimeline.model_validate_json(parts["timeline"])
                with receiver.lock:
                    receiver.received.recording = path
                    receiver.received.timeline = timeline
                self._reply(202, '{"meeting_id": "local"}')
            else:
                self._reply(404)

    return Handler


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields
