"""A scratch database on the real PostgreSQL of this machine, created and dropped per session.

Server from MINUTA_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432, trust auth).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest

SERVER = os.environ.get("MINUTA_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


async def _admin_async(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    # Fixtures may be first requested from inside an async test, where asyncio.run() refuses.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result()


def create_scratch_database() -> str:
    """A new empty database; returns its SQLAlchemy asyncpg URL."""
    name = f"minuta_test_{uuid.uuid4().hex[:12]}"
    try:
        _admin(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is not usable at {SERVER}: {exc}")
    return f"{SERVER.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


def drop_scratch_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    url = create_scratch_database()
    try:
        yield url
    finally:
        drop_scratch_database(url)
