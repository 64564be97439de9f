"""Headless Debian Chromium, driven by Playwright (which never downloads a browser of its own)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from services.meeting_bot.egress_guard import EgressGuard

CHROMIUM = os.environ.get("MINUTA_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_ARGS = [
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


def sandbox_args() -> list[str]:
    """Chromium's sandbox stays on, except as root, where Chromium refuses to start with it
    (the bot image runs as an unprivileged user; root is only a developer's machine or CI)."""
    return ["--no-sandbox"] if os.geteuid() == 0 else []


@dataclass
class BrowserSession:
    browser: Browser
    context: BrowserContext
    page: Page


@contextmanager
def browser_session(
    extra_args: list[str] | None = None, guard: EgressGuard | None = None
) -> Iterator[BrowserSession]:
    """A browser whose every request goes through `guard` (the egress policy) when given."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS + sandbox_args() + (extra_args or []),
        )
        try:
            context = browser.new_context(
                permissions=["microphone", "camera"],
                viewport={"width": 1280, "height": 800},
                # A service worker's fetches would bypass the interception below.
                service_workers="block",
            )
            if guard is not None:
                guard.install(context)
            yield BrowserSession(browser, context, context.new_page())
        finally:
            browser.close()
