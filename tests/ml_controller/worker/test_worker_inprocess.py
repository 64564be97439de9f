"""The worker's job rules with a stand-in pipeline, in one process (MemoryBroker) — fast.

The real pipeline on RabbitMQ in a real process is test_worker_process.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.contracts import (
    FailureKind,
    JobCompleted,
    JobFailed,
    JobProgress,
    ProcessMeetingJob,
    UnknownContractError,
    WorkerEvent,
    parse_job,
)
from core.messaging.memory import MemoryBroker
from core.messaging.settings import BrokerSettings
from core.results import AudioInfo, MeetingResult, Minutes, Segment, Speaker
from ml_controller.audio.decode import AudioInputError
from ml_controller.llm.base import LLMError
from ml_controller.pipeline import ProcessOptions
from ml_controller.progress import ProgressSink
from ml_controller.types import PipelineOutput
from ml_controller.worker.download import (
    BadDownloadError,
    TransientDownloadError,
    download,
)
from ml_controller.worker.failures import classify
from ml_controller.worker.health import HealthServer, WorkerMetrics, new_health_state
from ml_controller.worker.runner import Worker
from ml_controller.worker.settings import WorkerSettings
from tests.ml_controller.worker.fileserver import FileServer, file_server

Event = WorkerEvent


class FakePipeline:
    """Reports progress like the real one and then returns, or raises what it was told to."""

    def __init__(self, failures: list[BaseException] | None = None, seconds: float = 0.6) -> None:
        self.failures = list(failures or [])
        self.seconds = seconds
        self.calls: list[tuple[Path, ProcessOptions]] = []

    def process_with_voices(
        self, path: Path | str, options: ProcessOptions | None = None, progress: Any = None
    ) -> PipelineOutput:
        sink: ProgressSink = progress
        assert options is not None
        self.calls.append((Path(path), options))
        sink.begin("decode", None)
        sink.end("decode", 0.01)
        sink.begin("transcription", 10.0)
        steps = 30
        for i in range(steps):
            time.sleep(self.seconds / steps)
            sink.advance("transcription", 10.0 * (i + 1) / steps)
        sink.end("transcription", self.seconds)
        if self.failures:
            raise self.failures.pop(0)
        text = Path(path).read_bytes().decode()
        result = MeetingResult(
            audio=AudioInfo(duration=10.0, language="en", source=Path(path).name),
            speakers=[Speaker(id="S1")],
            segments=[Segment(start=0.0, end=10.0, speaker="S1", text=text)],
            topics=[],
            minutes=Minutes.empty("en"),
        )
        return PipelineOutput(result=result)


def job_for(url: str, **overrides: Any) -> ProcessMeetingJob:
    values: dict[str, Any] = {
        "job_id": uuid.uuid4(),
        "meeting_id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "audio_url": url,
        "audio_filename": "weekly sync.wav",
    }
    values.update(overrides)
    return ProcessMeetingJob(**values)


class Setup:
    def __init__(self, tmp_path: Path, server: FileServer, pipeline: FakePipeline) -> None:
        self.server = server
        self.pipeline = pipeline
        self.broker = MemoryBroker(BrokerSettings(broker_url=None, retry_delay_ms=200))
        self.settings = WorkerSettings(
            worker_state_dir=tmp_path / "state",
            worker_temp_dir=tmp_path,
            worker_preload_models=False,
            # Job rules only; the vector side is test_naming_flow.py and test_search.py.
            worker_vectors=False,
            worker_progress_interval_seconds=0.2,
            download_backoff_seconds=0.05,
        )
        self.metrics = WorkerMetrics()
        self.worker = Worker(
            self.broker,
            self.settings,
            pipeline=pipeline,  # type: ignore[arg-type]
            metrics=self.metrics,
        )
        self.events: list[Event] = []

    async def start(self) -> None:
        async def collect(event: Event) -> None:
            self.events.append(event)

        await self.broker.consume_events(collect)
        await self.worker.start()

    def of(self, job: ProcessMeetingJob, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and e.job_id == job.job_id]


def scenario(
    tmp_path: Path, pipeline: FakePipeline, body: Callable[[Setup], Awaitable[None]]
) -> Setup:
    with file_server() as server:
        setup = Setup(tmp_path, server, pipeline)

        async def main() -> None:
            await setup.start()
            try:
                await asyncio.wait_for(body(setup), 30)
            finally:
                await setup.worker.stop(drain_timeout=5)
                await setup.broker.close()

        asyncio.run(main())
    return setup


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_a_job_completes_with_throttled_progress_and_a_replay_is_not_recomputed(
    tmp_path: Path,
) -> None:
    pipeline = FakePipeline()

    async def body(s: Setup) -> None:
        job = job_for(s.server.add("/rec.wav", body=b"hello from the meeting"))
        await s.broker.publish_job(job)
        await until(lambda: len(s.of(job, JobCompleted)) == 1)
        # The same job again (a redelivery after a lost ack): answered from the record.
        await s.broker.publish_job(job)
        await until(lambda: len(s.of(job, JobCompleted)) == 2)
        first, second = s.of(job, JobCompleted)
        assert first.result == second.result
        assert first.result.segments[0].text == "hello from the meeting"
        assert first.result.audio.source == "weekly_sync.wav"
        progress = s.of(job, JobProgress)
        stages = [p.stage for p in progress]
        assert stages[0] == "decode" and "transcription" in stages
        # 0.6 s of transcription at ≤ 1 event per 0.2 s: a handful, not 30.
        assert 2 <= stages.count("transcription") <= 6, stages
        assert s.events.index(progress[-1]) < s.events.index(first), "progress after the result"
        assert len(pipeline.calls) == 1
        assert s.metrics.jobs_replayed._value.get() == 1
        assert s.metrics.jobs_completed._value.get() == 1
        assert not list(tmp_path.glob("minuta-job-*")), "the job's temp folder is removed"

    scenario(tmp_path, pipeline, body)


def test_bad_input_fails_once_and_is_not_retried(tmp_path: Path) -> None:
    pipeline = FakePipeline(failures=[AudioInputError("/tmp/x/weekly_sync.wav: not audio")])

    async def body(s: Setup) -> None:
        bad_audio = job_for(s.server.add("/garbage.wav", body=b"garbage"))
        gone = job_for(s.server.add("/gone.wav", status=404))
        expired = job_for(s.server.add("/expired.wav", status=403))
        for job in (bad_audio, gone, expired):
            await s.broker.publish_job(job)
        jobs = (bad_audio, gone, expired)
        await until(lambda: all(s.of(j, JobFailed) for j in jobs))
        await asyncio.sleep(0.6)  # three retry delays: nothing comes back
        for job in jobs:
            (failure,) = s.of(job, JobFailed)
            assert failure.failure is FailureKind.bad_input
            assert failure.will_retry is False
            assert "s3cr3t" not in failure.reason
        assert "HTTP 404" in s.of(gone, JobFailed)[0].reason
        assert "expired" in s.of(expired, JobFailed)[0].reason
        assert s.server.routes["/gone.wav"].hits == 1
        assert len(pipeline.calls) == 1
        assert await s.broker.take_dead_letters() == []

    scenario(tmp_path, pipeline, body)


def test_a_job_with_an_impossible_speaker_range_is_never_read() -> None:
    # The hints are the API's own model: a job whose range the API would refuse does not parse
    # (it is dead-lettered with the reason), so the pipeline never sees it.
    job = job_for("http://127.0.0.1/ok.wav").model_dump(mode="json")
    job["speakers"] = {"min_speakers": 4, "max_speakers": 2}
    with pytest.raises(UnknownContractError, match="min_speakers must not be greater"):
        parse_job(json.dumps(job).encode())


def test_transient_failures_are_retried_then_dead_lettered(tmp_path: Path) -> None:
    def unreachable() -> LLMError:
        try:
            try:
                raise httpx.ConnectError("connection refused")
            except httpx.ConnectError:
                raise LLMError("could not reach the LLM server") from None
        except LLMError as exc:
            return exc

    pipeline = FakePipeline(failures=[unreachable(), unreachable(), unreachable()], seconds=0.05)

    async def body(s: Setup) -> None:
        job = job_for(s.server.add("/rec.wav", body=b"words"))
        flaky = job_for(s.server.add("/flaky.wav", body=b"flaky words", fail_first=2))
        await s.broker.publish_job(job)
        await until(lambda: len(s.of(job, JobFailed)) == 3)
        letters = await s.broker.take_dead_letters()
        while not letters:  # the dead letter follows the last JobFailed
            await asyncio.sleep(0.05)
            letters = await s.broker.take_dead_letters()
        failures = s.of(job, JobFailed)
        assert [f.will_retry for f in failures] == [True, True, False]
        assert all(f.failure is FailureKind.transient for f in failures)
        assert len(letters) == 1 and "gave up after 3 attempts" in letters[0].reason
        # A download that answers 503 twice succeeds on its third try, inside one attempt.
        await s.broker.publish_job(flaky)
        await until(lambda: len(s.of(flaky, JobCompleted)) == 1)
        assert s.server.routes["/flaky.wav"].hits == 3
        assert s.of(flaky, JobFailed) == []

    scenario(tmp_path, pipeline, body)


def test_an_internal_error_is_dead_lettered_at_once(tmp_path: Path) -> None:
    pipeline = FakePipeline(failures=[ZeroDivisionError("division by zero")], seconds=0.05)

    async def body(s: Setup) -> None:
        job = job_for(s.server.add("/rec.wav", body=b"words"))
        await s.broker.publish_job(job)
        await until(lambda: len(s.of(job, JobFailed)) == 1)
        await asyncio.sleep(0.5)
        (failure,) = s.of(job, JobFailed)
        assert failure.failure is FailureKind.internal and not failure.will_retry
        (letter,) = await s.broker.take_dead_letters()
        assert "ZeroDivisionError" in letter.reason
        assert len(pipeline.calls) == 1

    scenario(tmp_path, pipeline, body)


def test_a_redelivered_job_whose_link_is_spent_is_dropped_without_an_outcome(
    tmp_path: Path,
) -> None:
    """A worker that published its result and died before the ack leaves the job queued; the
    next delivery finds the API's link answering 410 and must not report a failure."""
    pipeline = FakePipeline(seconds=0.05)

    async def body(s: Setup) -> None:
        job = job_for(s.server.add("/over.wav", status=410))
        await s.broker.publish_job(job)
        await until(lambda: s.server.routes["/over.wav"].hits == 1)
        await asyncio.sleep(0.5)
        assert s.of(job, JobFailed) == [] and s.of(job, JobCompleted) == []
        assert await s.broker.take_dead_letters() == []
        assert pipeline.calls == []

    scenario(tmp_path, pipeline, body)


def test_download_limits_retries_and_errors(tmp_path: Path) -> None:
    with file_server() as server:
        big = server.add("/big.wav", body=b"x" * 5000)
        big_unknown = server.add("/big2.wav", body=b"x" * 5000, no_length=True)
        flaky = server.add("/flaky.wav", body=b"abc", fail_first=1)
        down = server.add("/down.wav", status=500)
        dest = tmp_path / "out.bin"

        async def main() -> None:
            with pytest.raises(BadDownloadError, match="limit"):
                await download(big, dest, max_bytes=1000, attempts=1)
            with pytest.raises(BadDownloadError, match="limit"):
                await download(big_unknown, dest, max_bytes=1000, attempts=1)
            assert await download(flaky, dest, max_bytes=1000, attempts=2, backoff=0) == 3
            assert dest.read_bytes() == b"abc"
            with pytest.raises(TransientDownloadError, match="HTTP 500") as caught:
                await download(down, dest, max_bytes=1000, attempts=2, backoff=0)
            assert "s3cr3t" not in str(caught.value)
            closed = f"http://127.0.0.1:{_closed_port()}/x.wav?X-Amz-Signature=s3cr3t"
            with pytest.raises(TransientDownloadError, match="ConnectError"):
                await download(closed, dest, max_bytes=1000, attempts=2, backoff=0)

        asyncio.run(main())
        assert server.routes["/down.wav"].hits == 2


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_classify() -> None:
    assert classify(AudioInputError("x")) is FailureKind.bad_input
    assert classify(BadDownloadError("x")) is FailureKind.bad_input
    assert classify(TransientDownloadError("x")) is FailureKind.transient
    assert classify(LLMError("model file missing")) is FailureKind.internal
    assert classify(OSError(28, "No space left on device")) is FailureKind.transient
    assert classify(RuntimeError("x")) is FailureKind.internal
    try:
        try:
            raise httpx.ReadTimeout("slow")
        except httpx.ReadTimeout:
            raise LLMError("no answer within 600 s") from None
    except LLMError as exc:
        assert classify(exc) is FailureKind.transient


def test_health_and_metrics_endpoint() -> None:
    metrics = WorkerMetrics()
    metrics.jobs_completed.inc()
    metrics.stage_duration.labels("transcription").observe(3.0)
    state = new_health_state()
    server = HealthServer(state, metrics, "127.0.0.1", 0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/healthz") as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.HTTPError) as not_ready:
            urllib.request.urlopen(f"{base}/readyz")
        assert not_ready.value.code == 503
        state.ready = True
        with urllib.request.urlopen(f"{base}/readyz") as answer:
            assert answer.status == 200
        text = urllib.request.urlopen(f"{base}/metrics").read().decode()
        assert "minuta_worker_jobs_completed_total 1.0" in text
        assert 'minuta_worker_stage_duration_seconds_count{stage="transcription"} 1.0' in text
        assert "minuta_worker_jobs_in_progress 0.0" in text
        state.last_beat -= 60  # the event loop stopped beating
        with pytest.raises(urllib.error.HTTPError) as stale:
            urllib.request.urlopen(f"{base}/healthz")
        assert stale.value.code == 503
    finally:
        server.stop()
