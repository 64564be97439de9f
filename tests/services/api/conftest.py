"""The API under test on both of its real configurations:

- "postgres-s3": the scratch PostgreSQL database and a SeaweedFS S3 server (production shape);
- "sqlite-local": SQLite and the local folder (the `minuta serve` shape).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.api.app import create_app
from services.api.context import ApiContext
from services.api.db.migrate import upgrade_database
from services.api.settings import ApiSettings
from services.api.tenants import create_tenant
from testkit.postgres import postgres_url
from testkit.s3_server import S3Server, seaweedfs_s3
from tests.egress_fakes import LOOPBACK_CIDRS, fake_policy, loopback_only_client
from tests.services.api.fakes import RecordingBrokerFake
from tests.services.api.helpers import settings_from

__all__ = ["postgres_url", "seaweedfs_s3"]  # fixtures, re-exported for pytest

SHARED_AUDIO = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "audio"
TEST_BUCKET = "minuta-api-tests"
BACKENDS = ["postgres-s3", "sqlite-local"]
TABLES = (
    "webhook_deliveries, webhooks, applied_events, outbox, outbox_vectors, meeting_speakers, "
    "persons, meetings, api_keys, tenants"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    if not SHARED_AUDIO.is_dir():
        pytest.fail(f"test recordings not found at {SHARED_AUDIO}")
    return SHARED_AUDIO


def _in_thread(function: Any, *args: Any) -> Any:
    # Fixtures may be first requested from inside an async test, where asyncio.run() refuses.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> str:
    _in_thread(upgrade_database, postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def s3_bucket(seaweedfs_s3: S3Server) -> str:
    seaweedfs_s3.client().create_bucket(Bucket=TEST_BUCKET)
    return TEST_BUCKET


async def _truncate(url: str) -> None:
    from sqlalchemy import text

    from services.api.db.engine import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    await engine.dispose()


def make_settings(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, **extra: Any
) -> ApiSettings:
    values: dict[str, Any] = {
        # Explicit, so MINUTA_* variables of the shell running the tests cannot redirect them.
        "database_url": None,
        "s3_bucket": None,
        "data_dir": tmp_path / "data",
        "public_base_url": "http://api.test",
        "webhook_backoff_seconds": 0.05,
        "webhook_backoff_max_seconds": 0.2,
        "webhook_timeout_seconds": 5.0,
        "outbox_retry_max_seconds": 0.05,
        "outbox_poll_seconds": 0.1,
        "sse_poll_seconds": 0.2,
        # Each scrape reads afresh (tests/services/api/test_metrics.py tests the cache itself).
        "metrics_cache_seconds": 0,
        # The tests' receivers listen on loopback, which the egress policy refuses by default.
        "egress_allow_cidrs": LOOPBACK_CIDRS,
    }
    if backend == "postgres-s3":
        url = request.getfixturevalue("migrated_postgres")
        _in_thread(asyncio.run, _truncate(url))
        s3: S3Server = request.getfixturevalue("seaweedfs_s3")
        values.update(
            database_url=url,
            s3_bucket=request.getfixturevalue("s3_bucket"),
            s3_endpoint_url=s3.endpoint_url,
            s3_access_key_id=s3.access_key_id,
            s3_secret_access_key=s3.secret_access_key,
            s3_region=s3.region,
            s3_part_size_bytes=5 * 1024 * 1024,
            # Each test sees only its own objects.
            s3_key_prefix=f"t-{uuid.uuid4().hex[:12]}/",
        )
    values.update(extra)
    return settings_from(**values)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api_settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> ApiSettings:
    return make_settings(backend, request, tmp_path)


@dataclass
class ApiStack:
    app: FastAPI
    ctx: ApiContext
    client: httpx.AsyncClient
    broker: RecordingBrokerFake
    settings: ApiSettings

    async def tenant(self, name: str = "acme") -> dict[str, str]:
        """A new tenant; returns the headers that authenticate as it."""
        async with self.ctx.sessionmaker() as session, session.begin():
            _, issued = await create_tenant(session, name)
        return {"Authorization": f"Bearer {issued.secret}"}

    async def upload(
        self, headers: dict[str, str], path: Path, filename: str | None = None, **fields: Any
    ) -> httpx.Response:
        with path.open("rb") as handle:
            return await self.client.post(
                "/v1/meetings",
                headers=headers,
                files={"file": (filename or path.name, handle, "application/octet-stream")},
                data={k: str(v) for k, v in fields.items()},
            )

    async def stored_bytes(self, key: str) -> bytes | None:
        """The object as the storage holds it (None when missing)."""
        settings = self.settings
        if settings.uses_s3:
            from botocore.exceptions import ClientError

            from services.api.storage.s3 import S3Storage

            storage = self.ctx.storage
            assert isinstance(storage, S3Storage)
            try:
                answer = await asyncio.to_thread(
                    storage._client.get_object,
                    Bucket=storage.bucket,
                    Key=settings.s3_key_prefix + key,
                )
            except ClientError:
                return None
            return bytes(answer["Body"].read())
        path = settings.storage_dir / key
        return path.read_bytes() if path.exists() else None


@asynccontextmanager
async def open_stack(settings: ApiSettings, **app_kwargs: Any) -> AsyncIterator[ApiStack]:
    broker = app_kwargs.pop("broker", None) or RecordingBrokerFake()
    # Names resolve without DNS (tests/egress_fakes.py); the allow-list is the settings' own;
    # webhooks go through the production policy but can never leave loopback.
    egress = app_kwargs.setdefault("egress", fake_policy(settings.egress_allow_cidrs))
    webhook_client = loopback_only_client(egress, settings.webhook_timeout_seconds)
    app_kwargs.setdefault("webhook_client", webhook_client)
    app = create_app(
        settings, broker=broker, background=app_kwargs.pop("background", False), **app_kwargs
    )
    async with webhook_client, app.router.lifespan_context(app):
        ctx: ApiContext = app.state.ctx
        if isinstance(broker, RecordingBrokerFake):
            await broker.consume_events(ctx.applier)  # what the background task does
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield ApiStack(app=app, ctx=ctx, client=client, broker=broker, settings=settings)


@pytest.fixture
async def stack(api_settings: ApiSettings) -> AsyncIterator[ApiStack]:
    async with open_stack(api_settings) as opened:
        yield opened


@pytest.fixture
def results_dir() -> Iterator[Path]:
    yield Path(__file__).resolve().parent / "data"
