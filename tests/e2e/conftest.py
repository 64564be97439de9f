"""One real deployment per test module: a scratch PostgreSQL database, a SeaweedFS S3 bucket, a
RabbitMQ name prefix of its own, one `minuta api` process and two tenants made with the CLI.

Workers are started by the tests (each test decides how many and with which settings); a shared
one is kept for the tests that only need "a worker". Everything is removed afterwards: processes
by PID, the database, the queues and exchanges of the prefix.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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

__all__ = ["seaweedfs_s3"]  # a session fixture, re-exported for pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: starts real API/worker processes (minutes)")
    config.addinivalue_line(
        "markers", "stops_rabbitmq: briefly stops the machine's shared RabbitMQ (rabbitmqctl)"
    )


@pytest.fixture(scope="session")
def audio() -> Path:
    if not AUDIO.is_dir():
        pytest.fail(f"recordings not found at {AUDIO} (set MINUTA_SHARED_DATA)")
    return AUDIO


@dataclass
class Deployment:
    stack: Stack
    api: ApiProcess
    workers: Workers
    s3: S3Server
    key_a: str
    key_b: str

    def client(self, key: str | None = None) -> Client:
        return Client(self.api.url, key or self.key_a)


@pytest.fixture(scope="module")
def deployment(
    seaweedfs_s3: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    require_rabbitmq()
    database_url = create_scratch_database()
    stack = Stack(
        tmp=tmp_path_factory.mktemp("e2e"),
        database_url=database_url,
        broker_url=RABBIT_URL,
        broker_prefix=unique_prefix(),
        s3_endpoint_url=seaweedfs_s3.endpoint_url,
        s3_bucket=f"minuta-e2e-{uuid.uuid4().hex[:8]}",
        s3_access_key_id=seaweedfs_s3.access_key_id,
        s3_secret_access_key=seaweedfs_s3.secret_access_key,
        common=dict(BROKER_SETTINGS),
    )
    workers = Workers(stack)
    api: ApiProcess | None = None
    try:
        # The CLI migrates the empty database; the API then finds it up to date.
        key_a = create_tenant(stack, "tenant-a")
        key_b = create_tenant(stack, "tenant-b")
        api = ApiProcess(stack).ready()
        yield Deployment(stack, api, workers, seaweedfs_s3, key_a, key_b)
    finally:
        workers.close()
        if api is not None:
            with contextlib.suppress(AssertionError):  # killed anyway if SIGTERM is ignored
                api.terminate(timeout=30)
            api.close()
        try:
            stack.delete_broker_topology()
        finally:
            drop_scratch_database(database_url)
