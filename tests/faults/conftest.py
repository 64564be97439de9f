"""The fault suite: one real deployment whose dependencies a test can take away.

The API reaches PostgreSQL and the S3 server through TCP proxies (tests/faults/tcp_proxy.py),
so a test can make either unavailable for the API and the workers while the real server, and
every other test's view of it, stays up. RabbitMQ is the machine's own and is stopped with
rabbitmqctl (as the e2e outage test does). Workers are real `minuta worker` processes; a test
kills them with SIGKILL, or arms a failpoint so a worker kills itself at a chosen point of a job.

Every scenario records a verdict row; the table is printed at the end of the run and, when
MINUTA_FAULTS_REPORT names a file, written there as JSON (the README's table comes from it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from testkit.postgres import create_scratch_database, drop_scratch_database
from testkit.processes import (
    AUDIO,
    BROKER_SETTINGS,
    RABBIT_URL,
    ApiProcess,
    Client,
    Stack,
    Workers,
    create_tenant,
)
from testkit.rabbitmq import require_rabbitmq, unique_prefix
from testkit.s3_server import S3Server, seaweedfs_s3
from tests.faults import verdicts
from tests.faults.tcp_proxy import TcpProxy

__all__ = ["seaweedfs_s3"]  # a session fixture, re-exported for pytest

# Retries long enough to ride out the outages below (5 attempts, 3 s apart), downloads quick.
FAULT_SETTINGS = {
    **BROKER_SETTINGS,
    "MINUTA_RETRY_DELAY_MS": "3000",
    "MINUTA_MAX_ATTEMPTS": "5",
    "MINUTA_DOWNLOAD_ATTEMPTS": "2",
    "MINUTA_DOWNLOAD_BACKOFF_SECONDS": "0.5",
    "MINUTA_DOWNLOAD_CONNECT_TIMEOUT_SECONDS": "3",
    "MINUTA_RATE_LIMIT_ENABLED": "false",
}

SHORT = AUDIO / "asr_en" / "jfk.flac"  # 11 s, one speaker: the cheapest real job


@dataclass
class Verdict:
    scenario: str
    outcome: str
    jobs: int
    lost: int
    done_twice: int


@dataclass
class FaultReport:
    rows: list[Verdict] = field(default_factory=list)

    def record(self, scenario: str, outcome: str, *, jobs: int, lost: int, done_twice: int) -> None:
        self.rows.append(Verdict(scenario, outcome, jobs, lost, done_twice))

    def measure(
        self, scenario: str, outcome: str, deployment: FaultDeployment, meeting_ids: list[str]
    ) -> Verdict:
        """Counts what the database says about these meetings and records it, before the test
        asserts anything: a scenario that loses a job shows the loss in the table."""
        verdict = Verdict(
            scenario,
            outcome,
            jobs=len(meeting_ids),
            lost=deployment.jobs_lost(meeting_ids),
            done_twice=deployment.jobs_done_twice(meeting_ids),
        )
        self.rows.append(verdict)
        return verdict

    def markdown(self) -> str:
        lines = ["| scenario | outcome | jobs | lost | done twice |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.scenario} | {r.outcome} | {r.jobs} | {r.lost} | {r.done_twice} |"
            for r in self.rows
        ]
        return "\n".join(lines)


_REPORT = FaultReport()


@pytest.fixture(scope="session")
def fault_report() -> FaultReport:
    return _REPORT


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORT.rows:
        return
    terminalreporter.write_sep("=", "fault suite verdicts")
    terminalreporter.write_line(_REPORT.markdown())
    target = os.environ.get("MINUTA_FAULTS_REPORT")
    if target:
        Path(target).write_text(
            json.dumps([dataclasses.asdict(r) for r in _REPORT.rows], indent=2) + "\n"
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stops_rabbitmq: briefly stops the machine's shared RabbitMQ (rabbitmqctl)"
    )


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


@dataclass
class FaultDeployment:
    """The system under test, with handles on what a scenario may break."""

    stack: Stack  # what the processes are given: database and S3 through the proxies
    reader: Stack  # the same deployment read directly (the test's own view of the database)
    s3: S3Server
    pg_proxy: TcpProxy
    s3_proxy: TcpProxy
    api: ApiProcess
    workers: Workers
    key: str

    def client(self) -> Client:
        return Client(self.api.url, self.key)

    def restart_api(self, **env: str) -> ApiProcess:
        self.api.close()
        self.api = ApiProcess(self.stack, **env).ready()
        return self.api

    def jobs_lost(self, meeting_ids: list[str]) -> int:
        return verdicts.jobs_lost(self.reader, meeting_ids)

    def jobs_done_twice(self, meeting_ids: list[str]) -> int:
        return verdicts.jobs_done_twice(self.reader, meeting_ids)

    def dead_letters(self) -> int:
        depths = self.reader.queue_depths()
        return depths["dead"] + depths["events dead"]

    def objects(self) -> list[str]:
        client = self.s3.client()
        assert self.stack.s3_bucket is not None
        listing = client.list_objects_v2(Bucket=self.stack.s3_bucket)
        return [item["Key"] for item in listing.get("Contents", [])]

    def unfinished_multipart_uploads(self) -> int:
        client = self.s3.client()
        listing = client.list_multipart_uploads(Bucket=self.stack.s3_bucket)
        return len(listing.get("Uploads", []))


@pytest.fixture(scope="package")
def faults(seaweedfs_s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_rabbitmq()
    if not SHORT.exists():
        pytest.fail(f"recordings not found at {AUDIO} (set MINUTA_SHARED_DATA)")
    database_url = create_scratch_database()
    pg = urlsplit(database_url)
    s3 = urlsplit(seaweedfs_s3.endpoint_url)
    pg_proxy = TcpProxy(pg.hostname or "127.0.0.1", pg.port or 5432)
    s3_proxy = TcpProxy(s3.hostname or "127.0.0.1", s3.port or 80)
    common = dict(FAULT_SETTINGS)
    stack = Stack(
        tmp=tmp_path_factory.mktemp("faults"),
        database_url=_with_port(database_url, pg_proxy.port),
        broker_url=RABBIT_URL,
        broker_prefix=unique_prefix(),
        s3_endpoint_url=f"http://127.0.0.1:{s3_proxy.port}",
        s3_bucket=f"minuta-faults-{uuid.uuid4().hex[:8]}",
        s3_access_key_id=seaweedfs_s3.access_key_id,
        s3_secret_access_key=seaweedfs_s3.secret_access_key,
        common=common,
    )
    reader = dataclasses.replace(stack, database_url=database_url)
    workers = Workers(stack)
    api: ApiProcess | None = None
    deployment: FaultDeployment | None = None
    try:
        key = create_tenant(stack, "faults")
        api = ApiProcess(stack).ready()
        deployment = FaultDeployment(
            stack, reader, seaweedfs_s3, pg_proxy, s3_proxy, api, workers, key
        )
        yield deployment
    finally:
        pg_proxy.up()
        s3_proxy.up()
        workers.close()
        running = deployment.api if deployment is not None else api
        if running is not None:
            with contextlib.suppress(AssertionError):
                running.terminate(timeout=30)
            running.close()
        pg_proxy.close()
        s3_proxy.close()
        try:
            stack.delete_broker_topology()
        finally:
            drop_scratch_database(database_url)
