"""Real `minuta` processes (api, worker, serve) for the end-to-end tests and the load benchmark.

Every process is started with its own environment (only `MINUTA_*` settings, nothing injected),
logs to a file, and is stopped by its own PID. The helpers also read the API's database and the
broker's queues directly, to check what the HTTP API does not show (outbox rows, applied events,
dead letters).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
AUDIO = Path(os.environ.get("MINUTA_SHARED_DATA", REPO.parent / "shared" / "data")) / "audio"
RABBIT_URL = os.environ.get("MINUTA_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")

STARTUP_TIMEOUT = 240.0

# Shared by every process of a stack: queue arguments (the retry TTL) must agree on all sides,
# and the reconnection pauses are short so an outage test does not wait on defaults.
BROKER_SETTINGS = {
    "MINUTA_RETRY_DELAY_MS": "2000",
    "MINUTA_MAX_ATTEMPTS": "3",
    "MINUTA_BROKER_RECONNECT_INTERVAL_SECONDS": "1",
    "MINUTA_BROKER_PUBLISH_TIMEOUT_SECONDS": "3",
    "MINUTA_OUTBOX_POLL_SECONDS": "0.5",
    "MINUTA_OUTBOX_RETRY_MAX_SECONDS": "2",
}
# Settings of the machine rather than of a test (where the models are) pass through.
_INHERITED_MINUTA = ("MINUTA_CACHE_DIR", "MINUTA_SHARED_DATA")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def minuta_command() -> list[str]:
    """The installed `minuta` script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("minuta")
    return [str(script)] if script.exists() else [sys.executable, "-m", "entrypoints.cli"]


def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    # asyncio.run() refuses to run inside a running loop (async callers, pytest-anyio).
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def run_async(coro_fn: Callable[..., Any], *args: Any) -> Any:
    return in_thread(lambda: asyncio.run(coro_fn(*args)))


@dataclass
class Stack:
    """One deployment's settings: which database, broker prefix, object store and folders."""

    tmp: Path
    database_url: str | None = None  # None: SQLite in data_dir (`minuta serve`)
    broker_url: str | None = None  # None: in-process broker (`minuta serve` only)
    broker_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_bucket: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # Applied to every process of this stack (retry delay, reconnect interval, ...): RabbitMQ
    # refuses to re-declare a queue with other arguments, so all sides must agree.
    common: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.tmp / "data"

    def env(self, **overrides: str) -> dict[str, str]:
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MINUTA_") or k in _INHERITED_MINUTA
        }
        settings = {
            "MINUTA_DATA_DIR": str(self.data_dir),
            "MINUTA_DATABASE_URL": self.database_url,
            "MINUTA_BROKER_URL": self.broker_url,
            "MINUTA_BROKER_NAME_PREFIX": self.broker_prefix or None,
            "MINUTA_S3_ENDPOINT_URL": self.s3_endpoint_url,
            "MINUTA_S3_BUCKET": self.s3_bucket,
            "MINUTA_S3_ACCESS_KEY_ID": self.s3_access_key_id,
            "MINUTA_S3_SECRET_ACCESS_KEY": self.s3_secret_access_key,
            "MINUTA_THREADS": "1",
            "MINUTA_LLM_ENGINE": "none",
            "MINUTA_WORKER_TEMP_DIR": str(self.tmp),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        environment = {**base, **{k: v for k, v in settings.items() if v is not None}}
        environment.update(self.common)
        for key, value in overrides.items():
            if value == "":
                environment.pop(key, None)  # "" means: leave this setting unset
            else:
                environment[key] = value
        return environment

    # The API's database, read directly (it is the API's own; tests and benchmarks only read).

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.database_url is None:
            with sqlite3.connect(self.data_dir / "minuta.db", timeout=30) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]

        async def fetch() -> list[tuple[Any, ...]]:
            import asyncpg

            assert self.database_url is not None
            url = self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
            conn = await asyncpg.connect(url, timeout=10)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        result: list[tuple[Any, ...]] = run_async(fetch)
        return result

    def meeting_row(self, meeting_id: str, columns: str) -> tuple[Any, ...]:
        """Columns of one meeting row (SQLite keeps UUIDs as hex: compared as UUIDs here)."""
        wanted = uuid.UUID(meeting_id)
        for mid, *values in self.rows(f"SELECT id, {columns} FROM meetings"):
            if uuid.UUID(str(mid)) == wanted:
                return tuple(values)
        raise KeyError(meeting_id)

    def job_id(self, meeting_id: str) -> uuid.UUID:
        return uuid.UUID(str(self.meeting_row(meeting_id, "job_id")[0]))

    def applied_events(self, meeting_id: str) -> list[str]:
        """Kinds of the terminal events applied to this meeting (one row per application)."""
        wanted = uuid.UUID(meeting_id)
        return sorted(
            kind
            for mid, kind in self.rows("SELECT meeting_id, kind FROM applied_events")
            if uuid.UUID(str(mid)) == wanted
        )

    def outbox(self, meeting_id: str) -> dict[str, Any]:
        wanted = uuid.UUID(meeting_id)
        for mid, sent_at, attempts, last_error in self.rows(
            "SELECT meeting_id, sent_at, attempts, last_error FROM outbox"
        ):
            if uuid.UUID(str(mid)) == wanted:
                return {"sent_at": sent_at, "attempts": attempts, "last_error": last_error}
        raise KeyError(meeting_id)

    # The broker's queues of this stack's prefix.

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting in the job queue, its retry queue and its dead-letter queue."""
        from core.messaging.topology import Names

        names = Names.from_prefix(self.broker_prefix)

        async def depths() -> dict[str, int]:
            import aio_pika

            connection = await aio_pika.connect(self.broker_url or RABBIT_URL)
            async with connection:
                channel = await connection.channel()
                found = {}
                for label, name in (
                    ("jobs", names.jobs.name),
                    ("retry", names.jobs.retry),
                    ("dead", names.jobs.dead),
                    ("events dead", names.events.dead),
                ):
                    queue = await channel.declare_queue(name, passive=True)
                    found[label] = int(queue.declaration_result.message_count or 0)
                return found

        result: dict[str, int] = run_async(depths)
        return result

    def delete_broker_topology(self) -> None:
        from core.messaging.settings import BrokerSettings
        from core.messaging.topology import delete_topology

        settings = BrokerSettings(broker_url=self.broker_url, broker_name_prefix=self.broker_prefix)

        async def delete() -> None:
            import aio_pika

            connection = await aio_pika.connect(self.broker_url or RABBIT_URL)
            async with connection:
                await delete_topology(await connection.channel(), settings)

        run_async(delete)


class ManagedProcess:
    """A child process with its output in a log file; stopped by its own PID only."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")  # append: a restarted process keeps one history
        self.process = subprocess.Popen(
            args,
            cwd=REPO,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches pytest, which cleans up
        )
        self.pid = self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return f"--- {self.log_path} ---\n{self.log()[-chars:]}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_http(self, url: str, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until `url` answers 200; fails early (with the log) if the process exits."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.alive:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode}\n{self.tail()}"
                )
            try:
                answer = httpx.get(url, timeout=5)
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise AssertionError(
            f"{self.name} not ready at {url} in {timeout:.0f} s ({last})\n{self.tail()}"
        )

    def kill(self) -> int:
        """SIGKILL: no cleanup at all, as when a machine or container dies."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        return self.process.wait(30)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; SIGKILL (and fail) if it does not exit in time."""
        if self.alive:
            os.kill(self.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} ignored SIGTERM for {timeout:.0f} s\n{self.tail()}"
            ) from None

    def close(self) -> None:
        if self.alive:
            self.kill()
        self._log.close()


class ApiProcess(ManagedProcess):
    def __init__(self, stack: Stack, name: str = "api", **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            name,
            [*minuta_command(), "api", "--host", "127.0.0.1", "--port", str(self.port)],
            stack.env(**env),
            stack.tmp / "logs",
        )

    def ready(self, timeout: float = 120.0) -> ApiProcess:
        self.wait_http(f"{self.url}/readyz", timeout)
        return self


class WorkerProcess(ManagedProcess):
    def __init__(self, stack: Stack, name: str = "worker", **env: str) -> None:
        self.health_port = free_port()
        settings = {
            "MINUTA_WORKER_HEALTH_HOST": "127.0.0.1",
            "MINUTA_WORKER_HEALTH_PORT": str(self.health_port),
            "MINUTA_WORKER_STATE_DIR": str(stack.tmp / f"{name}-state"),
            # Workers cannot share one embedded store; production workers share a Qdrant server.
            "MINUTA_QDRANT_IN_MEMORY": "true",
            **env,
        }
        super().__init__(
            name, [*minuta_command(), "worker"], stack.env(**settings), stack.tmp / "logs"
        )

    def ready(self, timeout: float = STARTUP_TIMEOUT) -> WorkerProcess:
        # /readyz turns 200 once the models are loaded (if preloading) and jobs are consumed.
        self.wait_http(f"http://127.0.0.1:{self.health_port}/readyz", timeout)
        return self

    def started_jobs(self, job_id: uuid.UUID) -> int:
        return self.log().count(f"job {job_id} (attempt")

    def completed_jobs(self, job_id: uuid.UUID) -> int:
        return self.log().count(f"job {job_id} completed")


class Workers:
    """Worker processes of one module; every one is killed at the end whatever happened."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.all: list[WorkerProcess] = []
        self._shared: WorkerProcess | None = None

    def start(self, name: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.stack, f"{name}-{len(self.all) + 1}", **env)
        self.all.append(worker)
        return worker

    def shared(self) -> WorkerProcess:
        """A worker with its models loaded, kept for the next test that needs one."""
        if self._shared is None or not self._shared.alive:
            self._shared = self.start("shared-worker").ready()
        return self._shared

    def stop_shared(self) -> None:
        """For tests that must know which worker takes a job."""
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.terminate()

    def close(self) -> None:
        for worker in self.all:
            worker.close()


class ServeProcess(ManagedProcess):
    """`minuta serve`: the API and one worker in one process (SQLite, local folder)."""

    def __init__(self, stack: Stack, name: str = "serve", port: int | None = None, **env: str):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {"MINUTA_WORKER_STATE_DIR": str(stack.tmp / f"{name}-state"), **env}
        super().__init__(
            name,
            [*minuta_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            stack.env(**settings),
            stack.tmp / "logs",
        )

    def ready(self, timeout: float = STARTUP_TIMEOUT) -> ServeProcess:
        self.wait_http(f"{self.url}/readyz", timeout)
        return self


def create_tenant(stack: Stack, name: str) -> str:
    """`minuta tenants create NAME`; returns the API key it prints (its only stdout line)."""
    done = subprocess.run(
        [*minuta_command(), "tenants", "create", name],
        cwd=REPO,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"tenants create failed: {done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected only the key on stdout, got {done.stdout!r}"
    return lines[0]


# RabbitMQ itself (the machine's shared server): stopped only by the outage test.


def rabbit_port_open(host: str = "127.0.0.1", port: int = 5672) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def rabbitmqctl(*args: str, timeout: float = 90.0) -> None:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")


def start_rabbitmq_app(timeout: float = 90.0) -> None:
    """start_app, then wait until AMQP accepts: await_startup can say ready before the port."""
    rabbitmqctl("start_app", timeout=timeout)
    rabbitmqctl("await_startup", timeout=timeout)
    deadline = time.monotonic() + timeout
    while not rabbit_port_open():
        if time.monotonic() > deadline:
            raise RuntimeError("RabbitMQ started but port 5672 does not accept connections")
        time.sleep(0.2)


@contextmanager
def rabbitmq_stopped() -> Iterator[float]:
    """RabbitMQ's app stopped for the body (the Erlang node stays up); always started again.
    Yields the monotonic time of the stop, so callers can bound the outage."""
    rabbitmqctl("stop_app")
    stopped = time.monotonic()
    try:
        yield stopped
    finally:
        start_rabbitmq_app()


# The REST API, as a client sees it.


class Client:
    def __init__(self, base_url: str, api_key: str) -> None:
        self.key = api_key
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60
        )

    def close(self) -> None:
        self.http.close()

    def upload(self, path: Path, **fields: Any) -> dict[str, Any]:
        with path.open("rb") as recording:
            answer = self.http.post(
                "/v1/meetings",
                files={"file": (path.name, recording)},
                data={k: str(v) for k, v in fields.items()},
            )
        assert answer.status_code == 202, f"upload: {answer.status_code} {answer.text}"
        body: dict[str, Any] = answer.json()
        return body

    def upload_bytes(self, name: str, content: bytes, **fields: Any) -> httpx.Response:
        return self.http.post(
            "/v1/meetings",
            files={"file": (name, content)},
            data={k: str(v) for k, v in fields.items()},
        )

    def meeting(self, meeting_id: str) -> dict[str, Any]:
        answer = self.http.get(f"/v1/meetings/{meeting_id}")
        assert answer.status_code == 200, f"read: {answer.status_code} {answer.text}"
        body: dict[str, Any] = answer.json()
        return body

    def wait(
        self,
        meeting_id: str,
        until: Callable[[dict[str, Any]], bool],
        timeout: float,
        what: str,
        *,
        watch: list[ManagedProcess] | None = None,
        interval: float = 0.5,
    ) -> dict[str, Any]:
        """Poll the meeting until `until(meeting)`; fails with the processes' logs otherwise."""
        deadline = time.monotonic() + timeout
        meeting = self.meeting(meeting_id)
        while not until(meeting):
            for process in watch or []:
                if not process.alive:
                    raise AssertionError(
                        f"{process.name} died waiting for {what}\n{process.tail()}"
                    )
            if time.monotonic() > deadline:
                logs = "\n".join(p.tail() for p in watch or [])
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}: status "
                    f"{meeting['status']}, progress {meeting['progress']}, "
                    f"error {meeting['error']}\n{logs}"
                )
            time.sleep(interval)
            meeting = self.meeting(meeting_id)
        return meeting

    def wait_finished(
        self,
        meeting_id: str,
        timeout: float,
        *,
        watch: list[ManagedProcess] | None = None,
    ) -> dict[str, Any]:
        return self.wait(
            meeting_id,
            lambda m: m["status"] in ("completed", "failed"),
            timeout,
            "the meeting to finish",
            watch=watch,
        )


LATER_STAGES = ("transcription", "speakers", "topics", "minutes")


def reached_transcription(meeting: dict[str, Any]) -> bool:
    return meeting["status"] != "queued" and any(s in meeting["progress"] for s in LATER_STAGES)


def transcript(meeting: dict[str, Any]) -> str:
    return " ".join(s["text"] for s in meeting["result"]["segments"]).lower()


@contextmanager
def serving(
    stack: Stack, tenant: str = "acme", **env: str
) -> Iterator[tuple[ServeProcess, Client]]:
    """A ready `minuta serve` and a client of a new tenant; both stopped afterwards.

    Its worker serves no health port: other stacks on the machine may hold the default one.
    """
    settings = {"MINUTA_WORKER_HEALTH_ENABLED": "false", "MINUTA_OUTBOX_POLL_SECONDS": "0.5"}
    process = ServeProcess(stack, "serve", None, **(settings | env))
    client: Client | None = None
    try:
        process.ready()
        client = Client(process.url, create_tenant(stack, tenant))
        yield process, client
    finally:
        if client is not None:
            client.close()
        process.terminate()
        process.close()
