"""The worker: one job from the broker → download → pipeline → outcome on the broker.

Order of a job: download the recording, run the pipeline in a thread (the event loop stays free
for broker heartbeats, progress and health), name its speakers from enrolled voices and index it
for search, record the final outcome locally, publish it and wait for the broker's confirm, and
only then return, which acks the job. A crash anywhere before that return leaves the job
unacked, so the broker gives it to another worker.

Besides jobs, the worker answers search calls (RPC) and applies vector commands (durable queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import sentry_sdk

from core.contracts import (
    SEARCH_RPC_QUEUE,
    FailureKind,
    JobCompleted,
    JobFailed,
    ProcessMeetingJob,
    VectorCommand,
    parse_event,
)
from core.messaging.base import Broker, DependencyUnavailableError, RetryableJobError
from core.results import MeetingResult
from core.telemetry.logging import log_context
from core.telemetry.sentry import job_scope
from ml_controller.pipeline import MeetingPipeline, ProcessOptions
from ml_controller.types import PipelineOutput, Voiceprints
from ml_controller.worker import failpoints
from ml_controller.worker.download import JobOverError, download
from ml_controller.worker.failures import classify, store_unreachable
from ml_controller.worker.health import HealthState, WorkerMetrics, new_health_state
from ml_controller.worker.ledger import JobLedger
from ml_controller.worker.progress import BrokerProgress
from ml_controller.worker.settings import WorkerSettings
from ml_controller.worker.vectors import MeetingVectors, VectorStepError

if TYPE_CHECKING:
    from ml_controller.vectors import VectorSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNSAFE = re.compile(r"[^\w.\-]+")


async def run_in_thread(fn: Callable[[], T], name: str) -> T:
    """Like asyncio.to_thread, but in a daemon thread: the executor's threads are joined at
    interpreter exit, so a job abandoned at the drain timeout would hold the process open."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(setter: Callable[[], None]) -> None:
        if not future.done():
            setter()

    def target() -> None:
        try:
            result = context.run(fn)
        except BaseException as exc:
            error = exc
            outcome: Callable[[], None] = lambda: future.set_exception(error)  # noqa: E731
        else:
            outcome = lambda: future.set_result(result)  # noqa: E731
        # A closed loop means nobody waits for this any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def local_name(filename: str) -> str:
    name = _UNSAFE.sub("_", Path(filename).name).strip("._")[:120]
    return name or "recording"


def options_for(job: ProcessMeetingJob) -> ProcessOptions:
    # The hints were checked when the job was read (a bad range never parses).
    return ProcessOptions(
        language=job.language,
        speakers=job.speakers,
        minutes_language=job.minutes_language,
    )


def kept_output(raw: bytes) -> PipelineOutput:
    """A pipeline output kept for a retry. One kept before voiceprints left the result (by the
    previous version of the worker, across an upgrade) is the result itself, voiceprints in it."""
    data = json.loads(raw)
    if "result" in data:
        return PipelineOutput.model_validate(data)
    voices = Voiceprints(
        embedding_schema=data.pop("voiceprint_schema", None),
        vectors=data.pop("voiceprints", None) or {},
    )
    return PipelineOutput(result=MeetingResult.model_validate(data), voiceprints=voices)


def failed(
    job: ProcessMeetingJob, kind: FailureKind, reason: str, *, will_retry: bool
) -> JobFailed:
    return JobFailed(
        job_id=job.job_id,
        meeting_id=job.meeting_id,
        tenant_id=job.tenant_id,
        failure=kind,
        reason=reason,
        will_retry=will_retry,
    )


class Worker:
    def __init__(
        self,
        broker: Broker,
        settings: WorkerSettings | None = None,
        *,
        pipeline: MeetingPipeline | None = None,
        metrics: WorkerMetrics | None = None,
        health: HealthState | None = None,
        vectors: MeetingVectors | None = None,
        vector_settings: VectorSettings | None = None,
    ) -> None:
        """`vectors`: the vector store to use; by default the worker opens one at start from
        `vector_settings` (default: VectorSettings()), unless `worker_vectors` is off."""
        self.broker = broker
        self.settings = settings or WorkerSettings()
        # One pipeline per process: its models load once and serve every job.
        self.pipeline = pipeline or MeetingPipeline()
        self.metrics = metrics or WorkerMetrics()
        self.health = health or new_health_state()
        self.ledger = JobLedger(self.settings.worker_state_dir, self.settings.worker_state_keep)
        self.pipeline_results = JobLedger(self.settings.worker_state_dir / "pipeline", keep=20)
        # The models are not thread-safe; concurrency > 1 only overlaps downloads. A thread lock,
        # held by the pipeline thread itself: a cancelled job's thread still holds it until done.
        self._pipeline_lock = threading.Lock()
        self._heartbeat: asyncio.Task[None] | None = None
        self.vectors = vectors
        self._vector_settings = vector_settings
        self._owns_vectors = False

    async def start(self) -> None:
        """Connect, load the models, open the vector store, then take jobs, search calls and
        vector commands. Returns once consuming has started."""
        await self.broker.connect()
        self._heartbeat = asyncio.create_task(self._beat())
        if self.settings.worker_preload_models:
            began = time.perf_counter()
            await run_in_thread(self._preload, "minuta-preload")
            log.info("models loaded in %.1f s", time.perf_counter() - began)
        if self.vectors is None and self.settings.worker_vectors:
            self.vectors = await run_in_thread(self._open_vectors, "minuta-vectors")
            self._owns_vectors = True
        if self.vectors is not None:
            await self.broker.serve_rpc(SEARCH_RPC_QUEUE, self.search)
            await self.broker.consume_vector_commands(self.apply_vector_command)
        await self.broker.consume_jobs(self.handle, prefetch=self.settings.worker_concurrency)
        self.health.ready = True
        log.info("taking jobs (%d at a time)", self.settings.worker_concurrency)

    async def stop(self, drain_timeout: float | None = None) -> bool:
        """Take no more jobs and let the current ones finish; after the drain timeout they go
        back to the queue. True when nothing had to be put back."""
        self.health.ready = False
        timeout = (
            self.settings.worker_drain_timeout_seconds if drain_timeout is None else drain_timeout
        )
        finished = await self.broker.stop_consuming(timeout)
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None
        if not finished:
            log.warning("drain timeout of %.0f s passed: unfinished jobs were requeued", timeout)
        if self._owns_vectors and self.vectors is not None and finished:
            # Flushes an embedded store; a job still running (not finished) may yet write to it.
            await asyncio.to_thread(self.vectors.store.close)
            self.vectors, self._owns_vectors = None, False
        return finished

    def _open_vectors(self) -> MeetingVectors:
        from ml_controller.vectors import VectorSettings, VectorStore

        # The pipeline's sentence model serves search too: one copy in memory.
        embedder = self.pipeline.embedder if isinstance(self.pipeline, MeetingPipeline) else None
        settings = self._vector_settings or VectorSettings()
        store = VectorStore.from_settings(settings, embedder=embedder)
        store.ensure_schema()
        return MeetingVectors(store)

    async def search(self, body: bytes) -> bytes:
        """The search RPC handler (runs beside a job: it does not wait for the pipeline)."""
        assert self.vectors is not None
        vectors = self.vectors
        return await run_in_thread(lambda: vectors.search(body), "minuta-search")

    async def apply_vector_command(self, command: VectorCommand) -> None:
        assert self.vectors is not None
        vectors = self.vectors
        try:
            matches = await run_in_thread(lambda: vectors.apply(command), f"minuta-{command.kind}")
        except Exception as exc:
            if store_unreachable(exc):
                # A deletion must not be dropped because Qdrant restarts: it waits for it.
                raise DependencyUnavailableError(f"vector store unreachable: {exc}") from exc
            raise
        if matches is not None:
            # Published (confirmed) before the command is acked; a redelivery sends it again,
            # which the API applies idempotently.
            await self.broker.publish_event(matches)

    def _preload(self) -> None:
        _ = self.pipeline.transcriber, self.pipeline.diarizer, self.pipeline.embedder
        _ = self.pipeline.llm

    async def _beat(self) -> None:
        while True:
            self.health.beat()
            await asyncio.sleep(1.0)

    async def handle(self, job: ProcessMeetingJob) -> None:
        # Sentry tags and log fields for this job; run_in_thread carries both into its thread.
        with (
            job_scope(job.job_id, job.tenant_id, job.meeting_id),
            log_context(job_id=job.job_id, tenant_id=job.tenant_id, meeting_id=job.meeting_id),
        ):
            known = await asyncio.to_thread(self.ledger.get, job.job_id)
            if known is not None:
                log.info("job %s was finished here before: sending its outcome again", job.job_id)
                await self.broker.publish_event(parse_event(known))
                self.metrics.jobs_replayed.inc()
                return
            self.metrics.jobs_in_progress.inc()
            began = time.perf_counter()
            outcome = "cancelled"
            try:
                outcome = await self._process(job)
            except RetryableJobError:
                outcome = FailureKind.transient.value
                raise
            except DependencyUnavailableError:
                outcome = "waiting"
                raise
            except asyncio.CancelledError:
                raise
            except Exception:
                outcome = FailureKind.internal.value
                raise
            finally:
                self.metrics.jobs_in_progress.dec()
                self.metrics.job_duration.labels(outcome).observe(time.perf_counter() - began)

    async def _process(self, job: ProcessMeetingJob) -> str:
        log.info("job %s (attempt %d): %s", job.job_id, job.attempt, job.audio_filename)
        workdir = Path(tempfile.mkdtemp(prefix="minuta-job-", dir=self.settings.worker_temp_dir))
        path = workdir / local_name(job.audio_filename)
        try:
            try:
                options = options_for(job)
                size = await download(
                    job.audio_url,
                    path,
                    max_bytes=self.settings.download_max_bytes,
                    connect_timeout=self.settings.download_connect_timeout_seconds,
                    read_timeout=self.settings.download_read_timeout_seconds,
                    attempts=self.settings.download_attempts,
                    backoff=self.settings.download_backoff_seconds,
                )
                self.metrics.download_bytes.inc(size)
                failpoints.hit("download", self.settings.worker_failpoint)
                result = await self._run_pipeline(job, path, options)
            except asyncio.CancelledError:
                raise
            except JobOverError:
                # A redelivery of a job that another worker already finished (it published the
                # result, then died before its ack): the API has the outcome, so nothing is sent.
                log.info("job %s is over on the API side: dropped without an outcome", job.job_id)
                return "over"
            except Exception as exc:
                await self._fail(job, exc, str(path))
                return FailureKind.bad_input.value
            completed = JobCompleted(
                job_id=job.job_id,
                meeting_id=job.meeting_id,
                tenant_id=job.tenant_id,
                result=result,
            )
            await self._finish(completed)
            self.metrics.jobs_completed.inc()
            log.info("job %s completed", job.job_id)
            return "completed"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _run_pipeline(
        self, job: ProcessMeetingJob, path: Path, options: ProcessOptions
    ) -> MeetingResult:
        progress = BrokerProgress(
            job,
            self.broker.publish_event,
            interval=self.settings.worker_progress_interval_seconds,
            on_stage_end=lambda stage, s: self.metrics.stage_duration.labels(stage).observe(s),
            failpoint=self.settings.worker_failpoint,
        )

        vectors = self.vectors
        pipeline_results = self.pipeline_results

        def run() -> MeetingResult:
            with self._pipeline_lock:
                # A job retried because the vector store was down has its speech work kept here.
                kept = pipeline_results.get(job.job_id)
                if kept is not None:
                    log.info("job %s: speech results kept from an earlier attempt", job.job_id)
                    output = kept_output(kept)
                else:
                    output = self.pipeline.process_with_voices(path, options, progress=progress)
                    if vectors is not None:
                        pipeline_results.put(job.job_id, output.model_dump_json().encode())
                if vectors is None:
                    return output.result
                failpoints.hit("indexing", self.settings.worker_failpoint)
                return vectors.name_and_index(job, output).result

        try:
            began = time.perf_counter()
            result = await run_in_thread(run, f"minuta-job-{job.job_id}")
            if result.audio.duration > 0:
                wall = time.perf_counter() - began
                self.metrics.realtime_factor.observe(wall / result.audio.duration)
            await progress.aclose()
            return result
        finally:
            progress.abort()

    async def _finish(self, event: JobCompleted | JobFailed) -> None:
        """Record a final outcome, then publish it (confirmed) before the job is acked."""
        await asyncio.to_thread(self.ledger.put, event.job_id, event.model_dump_json().encode())
        await asyncio.to_thread(self.pipeline_results.discard, event.job_id)
        await self.broker.publish_event(event)
        failpoints.hit("before-ack", self.settings.worker_failpoint)

    async def _fail(self, job: ProcessMeetingJob, exc: Exception, local_path: str) -> None:
        kind = classify(exc)
        reason = (str(exc) or type(exc).__name__).replace(local_path, job.audio_filename)
        self.metrics.jobs_failed.labels(kind.value).inc()
        if kind is FailureKind.bad_input:
            log.info("job %s: bad input: %s", job.job_id, reason)
            await self._finish(failed(job, kind, reason, will_retry=False))
            return
        if isinstance(exc, VectorStepError) and store_unreachable(exc):
            # Not the job's fault and no use counting attempts: it waits for the store.
            log.warning("job %s: vector store unreachable, waiting: %s", job.job_id, reason)
            await self.broker.publish_event(failed(job, kind, reason, will_retry=True))
            raise DependencyUnavailableError(reason) from exc
        if kind is FailureKind.transient:
            will_retry = job.attempt < self.broker.max_attempts
            log.warning(
                "job %s: transient failure (attempt %d of %d): %s",
                job.job_id,
                job.attempt,
                self.broker.max_attempts,
                reason,
            )
            if not will_retry:
                sentry_sdk.capture_exception(exc)
            await self.broker.publish_event(failed(job, kind, reason, will_retry=will_retry))
            raise RetryableJobError(reason) from exc
        log.error("job %s: internal error: %s", job.job_id, reason, exc_info=exc)
        sentry_sdk.capture_exception(exc)
        await self.broker.publish_event(
            failed(job, kind, f"internal error: {reason}", will_retry=False)
        )
        raise exc
