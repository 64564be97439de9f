"""The settle rules both brokers share."""

from __future__ import annotations

import asyncio

import pytest

from core.contracts import UnknownContractError
from core.messaging.base import BrokerUnavailableError, RetryableJobError
from core.messaging.delivery import Action, decide


@pytest.mark.parametrize(
    ("kind", "exc", "attempt", "action"),
    [
        ("jobs", None, 1, Action.ACK),
        ("jobs", RetryableJobError("x"), 1, Action.RETRY),
        ("jobs", RetryableJobError("x"), 2, Action.RETRY),
        ("jobs", RetryableJobError("x"), 3, Action.DEAD),
        ("jobs", ValueError("x"), 1, Action.DEAD),
        ("jobs", UnknownContractError("x"), 1, Action.DEAD),
        ("jobs", BrokerUnavailableError("x"), 3, Action.REQUEUE),
        ("jobs", asyncio.CancelledError(), 1, Action.REQUEUE),
        # An event is a fact: failing to apply it is taken as passing.
        ("events", ValueError("x"), 1, Action.RETRY),
        ("events", ValueError("x"), 3, Action.DEAD),
        ("events", UnknownContractError("x"), 1, Action.DEAD),
    ],
)
def test_decide(kind: str, exc: BaseException | None, attempt: int, action: Action) -> None:
    assert decide(kind, exc, attempt, max_attempts=3).action is action  # type: ignore[arg-type]


def test_a_dead_letter_reason_says_why() -> None:
    outcome = decide("jobs", RetryableJobError("LLM down"), 3, max_attempts=3)
    assert outcome.reason == "gave up after 3 attempts: RetryableJobError: LLM down"
    assert decide("jobs", KeyError("k"), 1, 3).error_type == "KeyError"
