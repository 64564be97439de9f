"""A real `minuta serve` (API + worker, SQLite, local folder) and headless Chromium for the UI.

The stack is started once per module on a free port with its own data folder, the real
pipeline (no LLM: short recordings give empty minutes anyway) and an upload limit of 1 MB so
one real recording is "too large". Chromium is Debian's (/usr/bin/chromium); Playwright drives
it and never downloads a browser of its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from testkit.processes import AUDIO, Client, ServeProcess, Stack, create_tenant, serving

CHROMIUM = os.environ.get("MINUTA_CHROMIUM", "/usr/bin/chromium")
MAX_UPLOAD_BYTES = 1_000_000
# Screenshots for the docs go here when set (e.g. docs/screenshots); else into the test's tmp.
SCREENSHOTS_ENV = "MINUTA_SCREENSHOTS_DIR"


@dataclass
class Served:
    url: str
    key: str
    other_key: str
    client: Client
    process: ServeProcess
    screenshots: Path

    def shot(self, page: Page, name: str, *, full_page: bool = True) -> Path:
        path = self.screenshots / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not AUDIO.is_dir():
        pytest.fail(f"recordings not found at {AUDIO} (set MINUTA_SHARED_DATA)")
    tmp = tmp_path_factory.mktemp("web")
    stack = Stack(tmp)
    limits = {"MINUTA_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES), "MINUTA_SSE_POLL_SECONDS": "0.5"}
    with serving(stack, **limits) as (process, client):
        other = create_tenant(stack, "globex")
        shots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp / "screenshots")
        shots.mkdir(parents=True, exist_ok=True)
        yield Served(process.url, client.key, other, client, process, shots)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # The player is started by clicks in tests; no sound card in a container.
            args=["--autoplay-policy=no-user-gesture-required", "--mute-audio"],
        )
        try:
            yield launched
        finally:
            launched.close()


def new_context(browser: Browser, *, locale: str = "en-GB", **options: object) -> BrowserContext:
    context = browser.new_context(locale=locale, accept_downloads=True, **options)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)
    return context


# The API's Content-Security-Policy must not block anything the UI does: every violation the
# browser reports is collected and fails the test that caused it.
_REPORT_CSP = (
    "document.addEventListener('securitypolicyviolation', e => console.error("
    "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = new_context(browser)
    violations: list[str] = []
    context.add_init_script(_REPORT_CSP)

    def collect(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.text.startswith("CSP violation"):
            violations.append(message.text)

    context.on("console", collect)
    try:
        yield context
    finally:
        context.close()
    assert violations == [], f"the UI broke the Content-Security-Policy: {violations}"


def sign_in(page: Page, served: Served, key: str | None = None) -> None:
    page.goto(f"{served.url}/app/")
    page.get_by_label("API key").fill(key or served.key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Meetings", level=1).wait_for()


@pytest.fixture
def page(context: BrowserContext, served: Served) -> Page:
    """A page signed in as the tenant "acme"."""
    opened = context.new_page()
    sign_in(opened, served)
    return opened
