"""The bot's browser under the egress policy, in real Chromium: a page on an allowed address
cannot make the browser reach a refused one (image, fetch, navigation, WebSocket). Both servers
listen on loopback (127.0.0.1 and 127.0.0.2); the allow-list decides which one is "inside"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Error as PlaywrightError

from services.meeting_bot.browser import browser_session
from services.meeting_bot.egress_guard import EgressGuard
from tests.egress_fakes import fake_policy


class _Server:
    def __init__(self, host: str, page: str = "") -> None:
        self.hits: list[str] = []
        hits, body = self.hits, page.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def inside() -> Iterator[_Server]:
    server = _Server("127.0.0.2")
    yield server
    server.close()


def _page(inside: str) -> str:
    ws = inside.replace("http://", "ws://")
    return f"""<!doctype html><html><body>
<img src="{inside}/pixel.png">
<script>
  fetch("{inside}/fetch").catch(() => {{}});
  try {{ new WebSocket("{ws}/socket"); }} catch (e) {{}}
  document.title = "loaded";
</script></body></html>"""


@pytest.mark.parametrize(("allow", "reached"), [("127.0.0.1/32", False), ("127.0.0.0/8", True)])
def test_a_page_cannot_reach_a_refused_address(inside: _Server, allow: str, reached: bool) -> None:
    outside = _Server("127.0.0.1", _page(inside.base))
    guard = EgressGuard(fake_policy(allow))
    try:
        with browser_session(guard=guard) as session:
            session.page.goto(f"{outside.base}/meeting.html", wait_until="load")
            session.page.wait_for_timeout(1000)
            with nullcontext() if reached else pytest.raises(PlaywrightError):
                session.page.goto(f"{inside.base}/navigate", wait_until="load", timeout=5000)
    finally:
        outside.close()
    assert outside.hits[0] == "/meeting.html"
    if reached:
        assert {"/pixel.png", "/fetch", "/navigate"} <= set(inside.hits), inside.hits
    else:
        assert inside.hits == []  # not one request, of any kind, reached the refused address
        assert "127.0.0.2" in guard.blocked
