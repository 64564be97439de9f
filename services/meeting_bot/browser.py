"""Headless Debian Chromium, driven by Playwright (which never downloads a browser of its own)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM = os.environ.get("MINUTA_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    # Allow the camera/microphone prompt and give fake devices: the bot has none and joins muted.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    # Plain host ICE candidates: a media server on the LAN cannot resolve mDNS names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


@dataclass
class BrowserSession:
    browser: Browser
    context: BrowserContext
    page: Page


@contextmanager
def browser_session(extra_args: list[str] | None = None) -> Iterator[BrowserSession]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS + (extra_args or []),
        )
        try:
            context = browser.new_context(
                permissions=["microphone", "camera"], viewport={"width": 1280, "height": 800}
            )
            yield BrowserSession(browser, context, context.new_page())
        finally:
            browser.close()
