"""The Alembic migrations build exactly the models' schema, on PostgreSQL and SQLite."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from services.api.db.engine import create_engine
from services.api.db.migrate import upgrade_database, upgrade_database_async
from services.api.db.models import Base
from testkit.postgres import create_scratch_database, drop_scratch_database


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _schema(url: str) -> tuple[list[Any], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff), await conn.run_sync(_tables)
    finally:
        await engine.dispose()


@pytest.fixture(params=["postgres", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    url = create_scratch_database()
    try:
        yield url
    finally:
        drop_scratch_database(url)


def test_migrations_match_the_models_and_rerun_harmlessly(empty_database: str) -> None:
    upgrade_database(empty_database)
    upgrade_database(empty_database)  # already at head: nothing to do
    diff, tables = asyncio.run(_schema(empty_database))
    assert diff == []
    assert {"tenants", "api_keys", "meetings", "outbox", "applied_events", "webhooks"} <= tables
    assert {"persons", "meeting_speakers", "outbox_vectors"} <= tables
    assert "webhook_deliveries" in tables and "alembic_version" in tables


def test_api_processes_starting_together_migrate_once() -> None:
    url = create_scratch_database()
    try:
        with ThreadPoolExecutor(4) as pool:
            runs = [pool.submit(asyncio.run, upgrade_database_async(url)) for _ in range(4)]
            for run in runs:
                run.result()  # none failed on "relation already exists"
        diff, _ = asyncio.run(_schema(url))
        assert diff == []
    finally:
        drop_scratch_database(url)
