"""What every platform adapter does, driven by the platform's selectors and texts.

An adapter module holds only what is specific to its platform: how its links look, how to turn
a link into the browser join page, and a `DomSelectors` (CSS selectors and visible texts). The
reading is done by one in-page script (`_PAGE_STATE_JS`) so each poll is one round trip.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from services.bots.platforms import BY_NAME


@dataclass(frozen=True)
class DomSelectors:
    name_input: str
    join_buttons: tuple[str, ...]
    in_meeting: str
    # Clicked when present before joining (cookie banners, "continue in this browser").
    before_join: tuple[str, ...] = ()
    # Checkboxes to tick / buttons to press so the bot joins with microphone and camera off.
    mute_checkboxes: tuple[str, ...] = ()
    mute_buttons: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()
    waiting_texts: tuple[str, ...] = ()
    ended: tuple[str, ...] = ()
    ended_texts: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    refused_texts: tuple[str, ...] = ()
    leave_buttons: tuple[str, ...] = ()
    # Roster: one element per participant; the name is an attribute of it or its text.
    participant: str | None = None
    participant_name_attr: str | None = None
    participant_name: str | None = None  # a child holding the name, else the element's text
    speaking: str | None = None  # matches a participant element (or a child) while it speaks
    self_marker: str | None = None  # matches the bot's own participant element


@dataclass(frozen=True)
class PageState:
    in_meeting: bool = False
    waiting: bool = False
    ended: bool = False
    refused: str | None = None
    join_form: bool = False
    participants: list[str] = field(default_factory=list)
    speaking: list[str] = field(default_factory=list)
    roster_visible: bool = False


class JoinAttempt(StrEnum):
    submitted = "submitted"
    ended = "ended"
    refused = "refused"
    no_form = "no_form"


_PAGE_STATE_JS = """
(s) => {
  const visible = (el) => !!el && !el.closest('[hidden]') && el.getClientRects().length > 0;
  const shown = (sel) => [...document.querySelectorAll(sel)].some(visible);
  const any = (list) => (list || []).some(shown);
  const text = (document.body && document.body.innerText) || '';
  const says = (list) => (list || []).find((t) => text.includes(t)) || null;
  const people = [];
  const speaking = [];
  let rosterVisible = false;
  if (s.participant) {
    for (const el of document.querySelectorAll(s.participant)) {
      rosterVisible = true;
      if (s.self_marker && el.matches(s.self_marker)) continue;
      let name = s.participant_name_attr ? el.getAttribute(s.participant_name_attr) : null;
      if (!name && s.participant_name) {
        const child = el.querySelector(s.participant_name);
        name = child ? child.textContent : null;
      }
      if (!name) name = el.textContent;
      name = (name || '').trim();
      if (!name || people.includes(name)) continue;
      people.push(name);
      const talks = s.speaking && (el.matches(s.speaking) || el.querySelector(s.speaking));
      if (talks) speaking.push(name);
    }
  }
  const refusedText = says(s.refused_texts);
  return {
    in_meeting: any([s.in_meeting]),
    waiting: any(s.waiting) || !!says(s.waiting_texts),
    ended: any(s.ended) || !!says(s.ended_texts),
    refused: refusedText || (any(s.refused) ? 'the platform refused the bot' : null),
    join_form: any([s.name_input]),
    participants: people,
    speaking: speaking,
    roster_visible: rosterVisible,
  };
}
"""


class PlatformAdapter:
    """A platform's join flow. Subclasses set `name`, `selectors` and URL handling."""

    name = "generic"
    selectors: DomSelectors
    tested = False  # True only for adapters run against a real meeting server in the tests

    @classmethod
    def matches(cls, url: str) -> bool:
        # The shared list decides, so the controller's `detect_platform` agrees with the bot.
        platform = BY_NAME.get(cls.name)
        return platform is not None and platform.matches(url)

    def join_url(self, meeting_url: str, bot_name: str) -> str:
        return meeting_url

    def state(self, page: Page) -> PageState:
        raw: dict[str, Any] = page.evaluate(_PAGE_STATE_JS, asdict(self.selectors))
        return PageState(**raw)

    def _click_present(self, page: Page, selectors: tuple[str, ...]) -> None:
        for selector in selectors:
            target = page.locator(selector).first
            try:
                if target.is_visible():
                    target.click(timeout=3000)
            except PlaywrightError:
                pass  # it went away meanwhile: nothing to do

    def join(self, page: Page, bot_name: str, timeout: float = 30.0) -> JoinAttempt:
        """Wait for the join form (or a page saying the meeting is over), then join muted."""
        deadline = time.monotonic() + timeout
        while True:
            self._click_present(page, self.selectors.before_join)
            state = self.state(page)
            if state.ended:
                return JoinAttempt.ended
            if state.refused:
                return JoinAttempt.refused
            if state.join_form or state.in_meeting:
                break
            if time.monotonic() > deadline:
                return JoinAttempt.no_form
            page.wait_for_timeout(250)
        if state.in_meeting:
            return JoinAttempt.submitted
        page.locator(self.selectors.name_input).first.fill(bot_name)
        for selector in self.selectors.mute_checkboxes:
            box = page.locator(selector).first
            if box.count():
                box.check()
        self._click_present(page, self.selectors.mute_buttons)
        for selector in self.selectors.join_buttons:
            button = page.locator(selector).first
            if button.count() and button.is_visible():
                button.click()
                return JoinAttempt.submitted
        return JoinAttempt.no_form

    def leave(self, page: Page) -> None:
        self._click_present(page, self.selectors.leave_buttons)
