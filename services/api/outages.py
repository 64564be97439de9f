"""Telling "the database is down" apart from a bug, so neither a request nor an event is lost.

A request during a database outage gets a 503 that says to try again (not a 500); a job event
that cannot be written waits for the database (`DependencyUnavailableError`: back through the
retry queue without using an attempt) instead of being dead-lettered after a few quick retries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from core.messaging.base import DependencyUnavailableError

T = TypeVar("T")

DATABASE_UNAVAILABLE = "The database is unavailable right now; try again shortly."
RETRY_AFTER_SECONDS = 5
_DRIVER_MODULES = ("sqlalchemy.", "asyncpg.", "aiosqlite.")


def is_database_outage(exc: BaseException) -> bool:
    """A lost or refused connection (not a constraint, a syntax error or bad data)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    # asyncpg raises plain OS errors (refused, reset) and timeouts while connecting; they are
    # the database's only if they came out of the database drivers.
    return isinstance(exc, OSError | TimeoutError) and _raised_by_database_driver(exc)


def _raised_by_database_driver(exc: BaseException) -> bool:
    traceback = exc.__traceback__
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if module.startswith(_DRIVER_MODULES):
            return True
        traceback = traceback.tb_next
    return False


def waits_for_database(handler: Callable[[T], Awaitable[None]]) -> Callable[[T], Awaitable[None]]:
    """`handler`, with database outages raised as DependencyUnavailableError."""

    async def wrapped(message: T) -> None:
        try:
            await handler(message)
        except Exception as exc:
            if is_database_outage(exc):
                raise DependencyUnavailableError(f"database unavailable: {exc}") from exc
            raise

    return wrapped
