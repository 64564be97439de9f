"""Reading the API beside the browser: what the UI did must be what the server holds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.services.web.conftest import Served


def meeting_titled(served: Served, title: str) -> dict[str, Any] | None:
    page = served.client.http.get("/v1/meetings", params={"limit": 100}).json()
    return next((m for m in page["items"] if m["title"] == title), None)


def completed_meeting(
    served: Served, audio: Path, title: str, timeout: float = 240, **upload: Any
) -> str:
    """The id of the completed meeting `title`, uploading `audio` (with the `upload` form
    fields) through the API if no earlier test did it through the browser (keeps tests
    runnable alone)."""
    found = meeting_titled(served, title)
    meeting_id = found["id"] if found else served.client.upload(audio, title=title, **upload)["id"]
    served.client.wait(
        meeting_id,
        lambda m: m["status"] in ("completed", "failed"),
        timeout,
        f"{title} to be processed",
        watch=[served.process],
    )
    meeting = served.client.meeting(meeting_id)
    assert meeting["status"] == "completed", meeting["error"]
    return str(meeting_id)


def poll(check: Any, timeout: float, what: str, interval: float = 1.0) -> Any:
    """Until `check()` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
