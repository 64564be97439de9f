"""`minuta worker` as a real process on the real RabbitMQ, with the real pipeline (no LLM).

A local HTTP server plays the presigned S3 URL. Each test uses its own queue names and deletes
them afterwards. Pipeline runs are kept few: the machine is small and shared.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from core.contracts import (
    FailureKind,
    JobCompleted,
    JobFailed,
    JobProgress,
    ProcessMeetingJob,
    WorkerEvent,
)
from core.messaging.amqp import AmqpBroker
from core.messaging.settings import BrokerSettings
from testkit.rabbitmq import (
    RABBIT_URL,
    delete_rabbit_topology,
    rabbit_settings,
    require_rabbitmq,
)
from tests.conftest import REPO
from tests.ml_controller.worker.fileserver import FileServer, file_server

Event = WorkerEvent
STARTUP_TIMEOUT = 240.0
JOB_TIMEOUT = 400.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WorkerProcess:
    def __init__(self, settings: BrokerSettings, tmp: Path, name: str, **env: str) -> None:
        self.health_port = free_port()
        self.log_path = tmp / f"{name}.log"
        environment = {
            **os.environ,
            "MINUTA_BROKER_URL": settings.broker_url or "",
            "MINUTA_BROKER_NAME_PREFIX": settings.broker_name_prefix,
            "MINUTA_RETRY_DELAY_MS": str(settings.retry_delay_ms),
            "MINUTA_MAX_ATTEMPTS": str(settings.max_attempts),
            "MINUTA_LLM_ENGINE": "none",
            "MINUTA_THREADS": "1",
            "MINUTA_WORKER_STATE_DIR": str(tmp / f"{name}-state"),
            "MINUTA_WORKER_TEMP_DIR": str(tmp),
            "MINUTA_WORKER_HEALTH_HOST": "127.0.0.1",
            "MINUTA_WORKER_HEALTH_PORT": str(self.health_port),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            # Each process its own store: two processes cannot share an embedded one.
            "MINUTA_QDRANT_IN_MEMORY": "true",
            "MINUTA_QDRANT_URL": "",
            **env,
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.worker"],
            cwd=REPO,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{self.health_port}{path}"
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    async def ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited early:\n{self.log()[-3000:]}")
            try:
                if (await asyncio.to_thread(self.get, "/readyz"))[0] == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.5)
        raise AssertionError(f"worker not ready in time:\n{self.log()[-3000:]}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    async def exited(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            assert time.monotonic() < deadline, f"worker still running:\n{self.log()[-3000:]}"
            await asyncio.sleep(0.1)
        return int(self.process.returncode)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


class Api:
    """The API's side of the broker: publishes jobs, collects every event."""

    def __init__(self, settings: BrokerSettings) -> None:
        self.broker = AmqpBroker(settings)
        self.events: list[Event] = []

    async def start(self) -> None:
        async def collect(event: Event) -> None:
            self.events.append(event)

        await self.broker.consume_events(collect, prefetch=50)

    def of(self, job: ProcessMeetingJob, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and e.job_id == job.job_id]

    async def until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.events}"
            await asyncio.sleep(0.1)

    async def queue_depth(self, name: str) -> int:
        connection = await aio_pika.connect(RABBIT_URL)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(name, passive=True)
            return int(queue.declaration_result.message_count or 0)


@contextmanager
def system(tmp_path: Path) -> Iterator[tuple[BrokerSettings, FileServer, list[WorkerProcess]]]:
    require_rabbitmq()
    settings = rabbit_settings(retry_delay_ms=500, max_attempts=3)
    workers: list[WorkerProcess] = []
    with file_server() as server:
        try:
            yield settings, server, workers
        finally:
            for worker in workers:
                worker.close()
            asyncio.run(delete_rabbit_topology(settings))


def job_for(url: str, filename: str) -> ProcessMeetingJob:
    return ProcessMeetingJob(
        job_id=uuid.uuid4(),
        meeting_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        audio_url=url,
        audio_filename=filename,
        language="en",
    )


@pytest.fixture(scope="module")
def jfk(data_dir: Path) -> bytes:
    return (data_dir / "audio" / "asr_en" / "jfk.flac").read_bytes()


def test_a_real_recording_completes_and_sigterm_lets_the_job_finish(
    tmp_path: Path, jfk: bytes
) -> None:
    with system(tmp_path) as (settings, server, workers):

        async def main() -> None:
            api = Api(settings)
            await api.start()
            worker = WorkerProcess(settings, tmp_path, "w1")
            workers.append(worker)
            await worker.ready()
            status, body = await asyncio.to_thread(worker.get, "/healthz")
            assert status == 200 and '"broker_connected": true' in body

            job = job_for(server.add("/jfk.flac", body=jfk), "jfk.flac")
            await api.broker.publish_job(job)
            await api.until(lambda: bool(api.of(job, JobProgress)), 120, "first progress")
            # Mid-job: the worker must stop taking jobs but finish this one.
            worker.signal(signal.SIGTERM)
            await api.until(lambda: bool(api.of(job, JobCompleted)), JOB_TIMEOUT, "the result")
            assert await worker.exited(60) == 0

            (completed,) = api.of(job, JobCompleted)
            progress = api.of(job, JobProgress)
            assert api.events.index(progress[-1]) < api.events.index(completed)
            assert {"decode", "transcription", "speakers"} <= {p.stage for p in progress}
            text = " ".join(s.text for s in completed.result.segments).lower()
            assert "ask not what your country can do for you" in text
            assert completed.result.audio.language == "en"
            assert completed.result.audio.source == "jfk.flac"
            assert api.of(job, JobFailed) == []
            assert await api.queue_depth(api.broker.names.jobs.name) == 0
            assert await api.broker.take_dead_letters() == []
            assert "stopping: no new jobs" in worker.log()
            assert "s3cr3t" not in worker.log(), "the presigned URL's signature was logged"
            await api.broker.close()

        asyncio.run(main())


def test_a_corrupt_file_fails_once_as_bad_input_without_retries(tmp_path: Path) -> None:
    garbage = b"this is not a recording, only text that claims to be a wav file\n" * 300
    with system(tmp_path) as (settings, server, workers):

        async def main() -> None:
            api = Api(settings)
            await api.start()
            # No models are needed to refuse a file that does not decode.
            worker = WorkerProcess(settings, tmp_path, "w1", MINUTA_WORKER_PRELOAD_MODELS="false")
            workers.append(worker)
            await worker.ready()
            job = job_for(server.add("/broken.wav", body=garbage), "broken.wav")
            await api.broker.publish_job(job)
            await api.until(lambda: bool(api.of(job, JobFailed)), 120, "the failure")
            await asyncio.sleep(3 * settings.retry_delay_ms / 1000 + 2)  # no retry comes
            (failed,) = api.of(job, JobFailed)
            assert failed.failure is FailureKind.bad_input
            assert failed.will_retry is False
            assert "broken.wav" in failed.reason and "not an audio or video file" in failed.reason
            assert "minuta-job-" not in failed.reason, "no worker paths in a user-facing reason"
            assert api.of(job, JobCompleted) == []
            assert server.routes["/broken.wav"].hits == 1
            assert await api.queue_depth(api.broker.names.jobs.name) == 0
            assert await api.queue_depth(api.broker.names.jobs.retry) == 0
            assert await api.broker.take_dead_letters() == []
            _, metrics = await asyncio.to_thread(worker.get, "/metrics")
            assert 'minuta_worker_jobs_failed_total{failure="bad_input"} 1.0' in metrics
            worker.signal(signal.SIGTERM)
            assert await worker.exited(60) == 0
            await api.broker.close()

        asyncio.run(main())


def test_sigterm_past_the_drain_timeout_puts_the_job_back(tmp_path: Path, jfk: bytes) -> None:
    with system(tmp_path) as (settings, server, workers):

        async def main() -> None:
            api = Api(settings)
            await api.start()
            worker = WorkerProcess(
                settings,
                tmp_path,
                "w1",
                MINUTA_WORKER_PRELOAD_MODELS="false",
                MINUTA_WORKER_DRAIN_TIMEOUT_SECONDS="0",
            )
            workers.append(worker)
            await worker.ready()
            job = job_for(server.add("/jfk.flac", body=jfk), "jfk.flac")
            await api.broker.publish_job(job)
            await api.until(lambda: bool(api.of(job, JobProgress)), 120, "first progress")
            worker.signal(signal.SIGTERM)
            assert await worker.exited(30) == 0
            assert api.of(job, JobCompleted) == [] and api.of(job, JobFailed) == []
            assert "unfinished jobs were requeued" in worker.log()
            connection = await aio_pika.connect(RABBIT_URL)
            async with connection:
                channel = await connection.channel()
                queue = await channel.get_queue(api.broker.names.jobs.name)
                message = await queue.get(timeout=5)
                assert message.message_id == str(job.job_id)
                assert ProcessMeetingJob.model_validate_json(message.body).attempt == 1
                await message.ack()
            await api.broker.close()

        asyncio.run(main())


def test_a_killed_workers_job_is_completed_by_another(tmp_path: Path, jfk: bytes) -> None:
    with system(tmp_path) as (settings, server, workers):

        async def main() -> None:
            api = Api(settings)
            await api.start()
            first = WorkerProcess(settings, tmp_path, "w1", MINUTA_WORKER_PRELOAD_MODELS="false")
            workers.append(first)
            await first.ready()
            job = job_for(server.add("/jfk.flac", body=jfk), "jfk.flac")
            await api.broker.publish_job(job)
            await api.until(lambda: bool(api.of(job, JobProgress)), 120, "first progress")
            first.signal(signal.SIGKILL)
            assert await first.exited(30) == -signal.SIGKILL
            assert api.of(job, JobCompleted) == []

            second = WorkerProcess(settings, tmp_path, "w2")
            workers.append(second)
            await second.ready()
            await api.until(lambda: bool(api.of(job, JobCompleted)), JOB_TIMEOUT, "the result")
            await asyncio.sleep(1)
            (completed,) = api.of(job, JobCompleted)
            assert completed.result.segments, "the second worker produced the transcript"
            assert api.of(job, JobFailed) == []
            assert server.routes["/jfk.flac"].hits == 2
            assert await api.queue_depth(api.broker.names.jobs.name) == 0
            assert await api.broker.take_dead_letters() == []
            second.signal(signal.SIGTERM)
            assert await second.exited(60) == 0
            await api.broker.close()

        asyncio.run(main())
