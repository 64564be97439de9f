"""One bot's life: open the link, join muted, wait to be admitted, record, leave, upload.

States are reported as they happen (joining → waiting_room → recording → uploading); a failure
is reported with its reason. The API decides `done` once it has the recording.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from services.bots.contracts import (
    BotEvent,
    BotSpec,
    BotState,
    FailureReason,
    ParticipantTimeline,
)
from services.egress import EgressPolicy, EgressRefused, numeric_host
from services.meeting_bot.adapters import adapter_for
from services.meeting_bot.adapters.base import JoinAttempt, PlatformAdapter
from services.meeting_bot.browser import BrowserSession, browser_session
from services.meeting_bot.egress_guard import EgressGuard
from services.meeting_bot.recorder import Recorder
from services.meeting_bot.timeline import SpeakingTracker

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
PAGE_LOAD_TIMEOUT_MS = 30_000


class BotApi(Protocol):
    def event(self, event: BotEvent) -> bool: ...

    def upload(self, recording: Path, timeline: ParticipantTimeline) -> dict[str, object]: ...


class LeaveSignal(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class BotOutcome:
    state: BotState  # uploading (the API took the recording) or failed
    reason: FailureReason | None = None
    detail: str | None = None
    left_because: str | None = None
    recorded_seconds: float = 0.0
    recording: Path | None = None
    timeline: ParticipantTimeline | None = None


class PageFailure(StrEnum):
    """A bot's failure detail when its page is not reached: codes, not the network's words."""

    egress_refused = "egress_refused"  # the link now leads to an address the policy refuses
    load_failed = "page_load_failed"
    http_error = "page_http_error"


class _Failed(Exception):
    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class BotRunner:
    def __init__(self, spec: BotSpec, api: BotApi, leave: LeaveSignal, work_dir: Path) -> None:
        self.spec = spec
        self.api = api
        self.leave = leave
        self.work_dir = work_dir
        self.adapter: PlatformAdapter = adapter_for(spec.meeting_url, spec.platform)

    def report(
        self, state: BotState, reason: FailureReason | None = None, detail: str | None = None
    ) -> None:
        log.info("bot %s: %s %s %s", self.spec.bot_id, state, reason or "", detail or "")
        self.api.event(BotEvent(state=state, reason=reason, detail=detail))

    def run(self) -> BotOutcome:
        """Run to the end; unexpected exceptions propagate (the caller reports `crashed`)."""
        self.report(BotState.joining)
        path = self.work_dir / f"{self.spec.bot_id}.webm"
        policy = EgressPolicy.from_setting(",".join(self.spec.egress_allow_cidrs))
        guard = EgressGuard(policy)
        try:
            pin = self._checked_meeting_host(policy)
            with browser_session(pin, guard) as session:
                recorder = Recorder(session.context, path)
                self._open_and_join(session)
                self._wait_for_admission(session.page)
                left_because, timeline = self._record(session.page, recorder)
        except _Failed as failure:
            self.report(BotState.failed, failure.reason, failure.detail)
            return BotOutcome(BotState.failed, failure.reason, failure.detail)
        seconds = recorder.elapsed()
        if recorder.bytes_written == 0:
            detail = f"nothing was recorded ({left_because})"
            self.report(BotState.failed, FailureReason.meeting_ended, detail)
            return BotOutcome(BotState.failed, FailureReason.meeting_ended, detail)
        self.report(BotState.uploading)
        self.api.upload(path, timeline)
        return BotOutcome(
            BotState.uploading,
            left_because=left_because,
            recorded_seconds=seconds,
            recording=path,
            timeline=timeline,
        )

    def _checked_meeting_host(self, policy: EgressPolicy) -> list[str]:
        """Checks the meeting link again at use; Chromium args that make the browser connect
        to the address just checked (no second lookup it could be rebound in)."""
        url = self.adapter.join_url(self.spec.meeting_url, self.spec.bot_name)
        try:
            target = policy.check(url, "the meeting link")
        except EgressRefused as refused:
            log.warning("meeting link refused: %s", refused.reason.value)
            raise _Failed(FailureReason.unreachable, PageFailure.egress_refused.value) from refused
        if numeric_host(target.host) is not None:
            return []
        address = target.addresses[0]
        shown = f"[{address}]" if address.version == 6 else str(address)
        return [f"--host-resolver-rules=MAP {target.host} {shown}"]

    def _open_and_join(self, session: BrowserSession) -> None:
        page = session.page
        url = self.adapter.join_url(self.spec.meeting_url, self.spec.bot_name)
        try:
            response = page.goto(url, wait_until="load", timeout=PAGE_LOAD_TIMEOUT_MS)
        except PlaywrightError as error:
            # The browser's own words (ERR_CONNECTION_REFUSED, ...) stay in the bot's log: in
            # the API they would tell a tenant which of the network's ports answer.
            log.warning("meeting page not loaded: %s", _first_line(error))
            raise _Failed(FailureReason.unreachable, PageFailure.load_failed.value) from error
        if response is not None and response.status >= 400:
            log.warning("meeting page answered HTTP %d", response.status)
            raise _Failed(FailureReason.unreachable, PageFailure.http_error.value)
        attempt = self.adapter.join(page, self.spec.bot_name)
        if attempt is JoinAttempt.ended:
            raise _Failed(FailureReason.meeting_ended, "the meeting ended before the bot joined")
        if attempt is JoinAttempt.refused:
            raise _Failed(FailureReason.platform_refused, self.adapter.state(page).refused or "")
        if attempt is JoinAttempt.no_form:
            raise _Failed(
                FailureReason.platform_refused, f"no join form on the {self.adapter.name} page"
            )

    def _wait_for_admission(self, page: Page) -> None:
        deadline = time.monotonic() + self.spec.admission_timeout
        reported_waiting = False
        while True:
            state = self.adapter.state(page)
            if state.in_meeting:
                return
            if state.ended:
                raise _Failed(FailureReason.meeting_ended, "the meeting ended before admission")
            if state.refused:
                raise _Failed(FailureReason.platform_refused, state.refused)
            if state.waiting and not reported_waiting:
                self.report(BotState.waiting_room)
                reported_waiting = True
            if self.leave.is_set():
                raise _Failed(FailureReason.not_admitted, "asked to leave before being admitted")
            if time.monotonic() > deadline:
                raise _Failed(
                    FailureReason.not_admitted,
                    f"not admitted within {self.spec.admission_timeout:g} s",
                )
            page.wait_for_timeout(POLL_SECONDS * 1000)

    def _record(self, page: Page, recorder: Recorder) -> tuple[str, ParticipantTimeline]:
        tracker = SpeakingTracker(self.spec.bot_name)
        recorder.start(page)
        self.report(BotState.recording)
        alone_since: float | None = 0.0
        reason = "page closed"
        try:
            while True:
                at = recorder.elapsed()
                state = self.adapter.state(page)
                tracker.observe(at, state.participants, state.speaking)
                if state.ended or not state.in_meeting:
                    reason = "meeting ended"
                    break
                # No roster on screen: nobody can be seen leaving, so never "alone".
                if state.participants or not state.roster_visible:
                    alone_since = None
                elif alone_since is None:
                    alone_since = at
                if alone_since is not None and at - alone_since >= self.spec.alone_timeout:
                    reason = "everyone else left"
                    break
                if at >= self.spec.max_duration:
                    reason = "max duration reached"
                    break
                if self.leave.is_set():
                    reason = "asked to leave"
                    break
                page.wait_for_timeout(POLL_SECONDS * 1000)
        except PlaywrightError as error:
            log.warning("page lost while recording: %s", _first_line(error))
        recorder.stop(page)
        timeline = tracker.finish(recorder.elapsed())
        with contextlib.suppress(PlaywrightError):
            self.adapter.leave(page)
        log.info("left the meeting: %s", reason)
        return reason, timeline


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
