"""The test meeting's page server: serves the meeting page and keeps each room's host controls.

A room can hold joiners in a waiting room until the host admits them (by display name), and the
host can end it. The page polls `/api/rooms/<id>`; tests drive the host side through
`MeetingServer.room(...)`. Audio goes through Janus, never through this server.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

PAGE_DIR = Path(__file__).resolve().parent / "meeting_page"
JANUS_JS = Path("/usr/share/javascript/janus-gateway/janus.js")  # Debian libjs-janus-gateway


@dataclass
class Room:
    waiting_room: bool = False
    ended: bool = False
    admitted: set[str] = field(default_factory=set)
    knocked: list[str] = field(default_factory=list)

    def state(self, name: str | None = None) -> dict[str, Any]:
        admitted = not self.waiting_room or (name is not None and name in self.admitted)
        return {"ended": self.ended, "admitted": admitted, "waiting": list(self.knocked)}


class MeetingServer:
    def __init__(self, janus_url: str, host: str = "127.0.0.1") -> None:
        if not JANUS_JS.exists():
            raise FileNotFoundError(f"{JANUS_JS} missing: apt-get install libjs-janus-gateway")
        self.janus_url = janus_url
        self.rooms: dict[int, Room] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, 0), _handler(self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def room(self, room_id: int, *, waiting_room: bool = False) -> Room:
        with self.lock:
            return self.rooms.setdefault(room_id, Room(waiting_room=waiting_room))

    def url(self, room_id: int) -> str:
        return f"{self.base_url}/meeting.html?" + urlencode(
            {"room": room_id, "janus": self.janus_url}
        )

    def admit(self, room_id: int, name: str) -> None:
        with self.lock:
            self.rooms[room_id].admitted.add(name)

    def end(self, room_id: int) -> None:
        with self.lock:
            self.rooms[room_id].ended = True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: MeetingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, payload: dict[str, Any], status: int = 200) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _room(self) -> tuple[int, Room] | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) >= 3 and parts[:2] == ["api", "rooms"] and parts[2].isdigit():
                room_id = int(parts[2])
                with server.lock:
                    room = server.rooms.get(room_id)
                if room is not None:
                    return room_id, room
            return None

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/janus.js":
                self._send(200, JANUS_JS.read_bytes(), "text/javascript")
            elif path in ("/meeting.html", "/meeting.js"):
                kind = "text/html" if path.endswith(".html") else "text/javascript"
                self._send(200, (PAGE_DIR / path.lstrip("/")).read_bytes(), kind)
            elif (found := self._room()) is not None:
                with server.lock:
                    self._json(found[1].state())
            else:
                self._json({"error": "not found"}, 404)

        def do_POST(self) -> None:
            found = self._room()
            if found is None or not self.path.endswith("/knock"):
                self._json({"error": "not found"}, 404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            name = str(json.loads(self.rfile.read(length) or b"{}").get("name", ""))
            with server.lock:
                room = found[1]
                if name not in room.knocked:
                    room.knocked.append(name)
                self._json(room.state(name))

    return Handler
