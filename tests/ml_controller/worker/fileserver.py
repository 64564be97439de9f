"""A tiny HTTP server standing in for S3 presigned URLs: files, errors, flaky answers, slowness."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    # Answer 503 this many times before serving the body.
    fail_first: int = 0
    # Send no Content-Length (chunked-like streaming to the end of the connection).
    no_length: bool = False
    # Seconds to wait before answering.
    delay: float = 0.0
    hits: int = 0


@dataclass
class FileServer:
    port: int
    routes: dict[str, Route] = field(default_factory=dict)

    def url(self, path: str, query: str = "X-Amz-Signature=s3cr3t&X-Amz-Expires=600") -> str:
        return f"http://127.0.0.1:{self.port}{path}?{query}"

    def add(self, path: str, **route: Any) -> str:
        self.routes[path] = Route(**route)
        return self.url(path)


@contextmanager
def file_server() -> Iterator[FileServer]:
    state = FileServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            route = state.routes.get(self.path.split("?", 1)[0])
            if route is None:
                self._answer(404, b"no such key")
                return
            route.hits += 1
            if route.delay:
                time.sleep(route.delay)
            if route.hits <= route.fail_first:
                self._answer(503, b"slow down")
                return
            if route.status != 200:
                self._answer(route.status, b"refused")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if route.no_length:
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(route.body)
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
