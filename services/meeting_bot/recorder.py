"""In-page recording of the meeting's remote audio (needs no audio device on the machine).

`capture.js` is installed in the browser context before the meeting page loads, so it sees
every RTCPeerConnection the page makes. The webm/opus chunks are appended to a file as they
arrive: whatever was recorded is on disk even if the page dies later.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

from playwright.sync_api import BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

CAPTURE_JS = (Path(__file__).with_name("capture.js")).read_text()
TIMESLICE_MS = 1000


class Recorder:
    def __init__(self, context: BrowserContext, path: Path) -> None:
        self.path = path
        self.bytes_written = 0
        self.finished = False
        self.started_at: float | None = None
        self._file = path.open("wb")
        context.expose_binding("__minutaChunk", self._on_chunk)
        context.add_init_script(script=CAPTURE_JS)

    def _on_chunk(self, _source: object, chunk: str | None) -> None:
        if chunk is None:
            self.finished = True
            self._file.flush()
            return
        data = base64.b64decode(chunk)
        self._file.write(data)
        self._file.flush()
        self.bytes_written += len(data)

    def start(self, page: Page) -> None:
        page.evaluate("ms => window.__minutaCapture.start(ms)", TIMESLICE_MS)
        self.started_at = time.monotonic()

    def elapsed(self) -> float:
        return 0.0 if self.started_at is None else time.monotonic() - self.started_at

    def remote_tracks(self, page: Page) -> int:
        return int(page.evaluate("() => window.__minutaCapture.trackCount()"))

    def stop(self, page: Page, timeout: float = 10.0) -> None:
        """Stop and wait for the last chunk; a dead page keeps what was already written."""
        try:
            page.evaluate("() => window.__minutaCapture.stop()")
            deadline = time.monotonic() + timeout
            while not self.finished and time.monotonic() < deadline:
                page.wait_for_timeout(100)
        except PlaywrightError:
            pass
        self._file.close()
