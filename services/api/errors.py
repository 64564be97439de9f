"""Domain exceptions as HTTP answers: one table per domain, applied by `http_errors`.

A route wraps the calls that may raise in `async with http_errors(TABLE, ...)`; the first rule
(in table order, so subclasses come first) whose exception type matches decides the status and
the `{"detail": ...}` body. Exceptions no rule names pass through unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import HTTPException, status

from core.contracts import UnknownContractError
from core.messaging.base import BrokerUnavailableError, RpcError, RpcRemoteError
from services.api.persons import NameTakenError
from services.api.proposals import (
    ProposalDecidedError,
    ProposalNotFoundError,
    SpeakerNamedMeanwhileError,
)
from services.api.storage.base import StorageError


@dataclass(frozen=True)
class ErrorRule:
    """The answer to one exception type."""

    status: int
    # A str.format template, filled with the context the route passes to `http_errors`.
    detail: str
    # Logged (with the exception as its one %s argument) at this level, if set.
    log_level: int | None = None
    log_message: str = "%s"


ErrorTable = Mapping[type[Exception], ErrorRule]


def rule_for(table: ErrorTable, exc: Exception) -> ErrorRule | None:
    """The first rule whose type `exc` is an instance of."""
    return next((rule for kind, rule in table.items() if isinstance(exc, kind)), None)


@asynccontextmanager
async def http_errors(
    table: ErrorTable,
    *,
    log: logging.Logger | None = None,
    on_error: Callable[[], Awaitable[object]] | None = None,
    **context: object,
) -> AsyncIterator[None]:
    """Turn the table's exceptions into HTTPExceptions (chained, so the cause stays in traces).

    `log` is the route's logger (log lines keep their module's name); `on_error` runs first,
    e.g. a rollback of the failed write."""
    try:
        yield
    except Exception as exc:
        rule = rule_for(table, exc)
        if rule is None:
            raise
        if on_error is not None:
            await on_error()
        if log is not None and rule.log_level is not None:
            log.log(rule.log_level, rule.log_message, exc)
        raise HTTPException(rule.status, rule.detail.format(**context)) from exc


# `GET /v1/meetings`: list_meetings raises ValueError for a cursor it did not issue.
MEETING_LIST_ERRORS: ErrorTable = {
    ValueError: ErrorRule(
        status.HTTP_400_BAD_REQUEST,
        "The cursor is not valid; pass the next_cursor of a previous page.",
    ),
}

# `/v1/persons`; context: name (the name asked for).
PERSON_ERRORS: ErrorTable = {
    NameTakenError: ErrorRule(
        status.HTTP_409_CONFLICT,
        "Another person is already called '{name}'; merge the two instead "
        "(POST /v1/persons/{{id}}/merge).",
    ),
}

# `/v1/persons/{id}/proposals/{proposal_id}/confirm|reject`.
PROPOSAL_ERRORS: ErrorTable = {
    ProposalNotFoundError: ErrorRule(
        status.HTTP_404_NOT_FOUND, "No proposal with this id for this person."
    ),
    SpeakerNamedMeanwhileError: ErrorRule(
        status.HTTP_409_CONFLICT,
        "This speaker was named as someone else since the proposal was made, so it was not "
        "renamed. If this person is right, rename the speaker in its meeting "
        "(PATCH /v1/meetings/{{id}}/speakers/{{label}}); otherwise reject the proposal.",
    ),
    ProposalDecidedError: ErrorRule(
        status.HTTP_409_CONFLICT,
        "This proposal was already decided the other way; it cannot be changed.",
    ),
}

_SEARCH_UNAVAILABLE = ErrorRule(
    status.HTTP_503_SERVICE_UNAVAILABLE,
    "Search is unavailable: no ML worker answered within {timeout:g} s. Try again shortly.",
    logging.WARNING,
    "search unavailable: %s",
)

# `/v1/search`, the RPC to an ML worker; context: timeout (seconds waited).
SEARCH_ERRORS: ErrorTable = {
    # Before RpcError: it is one.
    RpcRemoteError: ErrorRule(
        status.HTTP_502_BAD_GATEWAY,
        "The search failed on the ML worker; try again.",
        logging.ERROR,
        "search failed on the worker: %s",
    ),
    UnknownContractError: ErrorRule(
        status.HTTP_502_BAD_GATEWAY,
        "The ML worker answered in a format this API cannot read.",
        logging.ERROR,
        "unreadable search reply: %s",
    ),
    RpcError: _SEARCH_UNAVAILABLE,
    BrokerUnavailableError: _SEARCH_UNAVAILABLE,
}

# The local storage's signed download URLs: a key outside the store is a bad link, not a 503
# (the app-wide StorageError answer).
SIGNED_FILE_ERRORS: ErrorTable = {
    StorageError: ErrorRule(status.HTTP_403_FORBIDDEN, "This link is invalid."),
}
