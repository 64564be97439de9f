"""Pipeline progress (reported from the pipeline's thread) → JobProgress events on the broker.

Every stage start is sent; progress within a stage at most once per `interval`. Events go out in
order through one publishing task, and a progress event the broker does not take is skipped:
progress is a convenience, the outcome is what must arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from core.contracts import JobProgress, ProcessMeetingJob
from core.messaging.base import BrokerUnavailableError
from ml_controller.worker import failpoints

log = logging.getLogger(__name__)


class BrokerProgress:
    """A `ml_controller.progress.ProgressSink` that publishes; begin/advance/end come from the
    pipeline thread, publishing happens on the event loop."""

    def __init__(
        self,
        job: ProcessMeetingJob,
        publish: Callable[[JobProgress], Awaitable[None]],
        *,
        interval: float = 1.0,
        on_stage_end: Callable[[str, float], None] | None = None,
        failpoint: str | None = None,
    ) -> None:
        self._job = job
        self._publish = publish
        self._interval = interval
        self._on_stage_end = on_stage_end
        self._failpoint = failpoint
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[JobProgress | None] = asyncio.Queue()
        self._totals: dict[str, float | None] = {}
        self._last_sent = 0.0
        self._task = self._loop.create_task(self._pump())
        self.sent = 0

    def begin(self, stage: str, total: float | None) -> None:
        failpoints.hit(stage, self._failpoint)
        self._totals[stage] = total
        self._emit(stage, 0.0)

    def advance(self, stage: str, done: float) -> None:
        total = self._totals.get(stage)
        if not total or time.monotonic() - self._last_sent < self._interval:
            return
        self._emit(stage, min(1.0, max(0.0, done / total)))

    def end(self, stage: str, seconds: float) -> None:
        if self._on_stage_end is not None:
            self._on_stage_end(stage, seconds)

    def _emit(self, stage: str, fraction: float) -> None:
        self._last_sent = time.monotonic()
        event = JobProgress(
            job_id=self._job.job_id,
            meeting_id=self._job.meeting_id,
            tenant_id=self._job.tenant_id,
            stage=stage,
            fraction=round(fraction, 4),
        )
        # A closed loop means the worker is going away.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def _pump(self) -> None:
        while (event := await self._queue.get()) is not None:
            try:
                await self._publish(event)
                self.sent += 1
            except BrokerUnavailableError as exc:
                log.warning("progress of job %s not published: %s", self._job.job_id, exc)

    async def aclose(self) -> None:
        """Publish what is queued, then stop (before the outcome, so progress never trails it)."""
        self._queue.put_nowait(None)
        await self._task

    def abort(self) -> None:
        self._task.cancel()
