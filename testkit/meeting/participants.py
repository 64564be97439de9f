"""Headless Chromium "participants" of the test meeting, each speaking from a WAV file.

Chromium's `--use-file-for-fake-audio-capture` makes the file the microphone (played once,
from the moment the page asks for the microphone).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from services.meeting_bot.browser import CHROMIUM, CHROMIUM_ARGS, sandbox_args


@contextmanager
def participants(
    url: str, people: Mapping[str, Path | None], join_timeout: float = 20.0
) -> Iterator[dict[str, Page]]:
    """Join every named participant (a WAV as microphone, or None for silence); yield pages."""
    with sync_playwright() as playwright, ExitStack() as stack:
        pages: dict[str, Page] = {}
        for name, wav in people.items():
            args = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"]
            args += sandbox_args()
            args.append("--use-fake-device-for-media-stream")
            if wav is not None:
                args.append(f"--use-file-for-fake-audio-capture={wav}%noloop")
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=args,
            )
            stack.callback(browser.close)
            page = browser.new_page()
            page.goto(url)
            page.fill("#display-name", name)
            if wav is None:
                page.check("#mute-mic")
            page.click("#join-button")
            page.wait_for_selector("#in-meeting:not([hidden])", timeout=join_timeout * 1000)
            pages[name] = page
        yield pages
