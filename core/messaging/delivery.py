"""What happens to one delivered message, whichever broker carried it.

Both brokers run every delivery through `handle_delivery`, so retry and dead-letter rules are the
same in a test with `MemoryBroker` as in production on RabbitMQ. A broker supplies the transport
(`Delivery`): acknowledge, put back, and publish a confirmed copy to the retry or dead queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Protocol

from core.contracts import (
    UnknownContractError,
    parse_event,
    parse_job,
    parse_vector_command,
)
from core.messaging.base import (
    BrokerUnavailableError,
    DependencyUnavailableError,
    RetryableJobError,
)
from core.messaging.metrics import DeadReason, dead_reason, record_dead_letter

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-minuta-attempt"
REASON_HEADER = "x-minuta-dead-reason"
ERROR_TYPE_HEADER = "x-minuta-error-type"
SOURCE_HEADER = "x-minuta-source-queue"
RPC_ERROR_HEADER = "x-minuta-rpc-error"

REQUEUE_PAUSE_SECONDS = 1.0

# Headers are shown in the management UI and copied around: keep a reason short.
_MAX_REASON = 1000

Kind = Literal["jobs", "events", "vectors"]


class Action(Enum):
    ACK = "ack"
    RETRY = "retry"
    # Back through the retry queue with the same attempt number: a dependency was down.
    WAIT = "wait"
    DEAD = "dead"
    REQUEUE = "requeue"


@dataclass(frozen=True)
class Outcome:
    action: Action
    reason: str = ""
    error_type: str = ""
    # DEAD only: the bounded label of minuta_dead_letters_total.
    dead_reason: DeadReason | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A message in a dead queue, as an operator (or a test) reads it."""

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str | None = None

    @property
    def reason(self) -> str:
        return str(self.headers.get(REASON_HEADER, ""))


class Delivery(Protocol):
    body: bytes
    headers: dict[str, Any]
    message_id: str | None

    async def ack(self) -> None: ...

    async def requeue(self) -> None: ...

    async def publish_retry(self, body: bytes, headers: dict[str, Any]) -> None: ...

    async def publish_dead(self, body: bytes, headers: dict[str, Any]) -> None: ...


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:_MAX_REASON]


def decide(kind: Kind, exc: BaseException | None, attempt: int, max_attempts: int) -> Outcome:
    if exc is None:
        return Outcome(Action.ACK)
    reason, error_type = _describe(exc), type(exc).__name__
    if isinstance(exc, UnknownContractError):
        return Outcome(Action.DEAD, reason, error_type, dead_reason(exc, gave_up=False))
    if isinstance(exc, BrokerUnavailableError | asyncio.CancelledError):
        # Not the message's fault: the broker (or our shutdown) stopped it; it will run again.
        return Outcome(Action.REQUEUE, reason, error_type)
    if isinstance(exc, DependencyUnavailableError):
        return Outcome(Action.WAIT, reason, error_type)
    # Events and vector commands are facts or decisions already made: any failure to apply one
    # is taken as transient. A job's failure is retried only when its handler says so.
    retryable = kind != "jobs" or isinstance(exc, RetryableJobError)
    if not retryable:
        return Outcome(Action.DEAD, reason, error_type, dead_reason(exc, gave_up=False))
    if attempt < max_attempts:
        return Outcome(Action.RETRY, reason, error_type)
    return Outcome(
        Action.DEAD,
        f"gave up after {attempt} attempts: {reason}",
        error_type,
        dead_reason(exc, gave_up=True),
    )


def attempt_of(headers: dict[str, Any]) -> int:
    try:
        return max(1, int(headers.get(ATTEMPT_HEADER, 1)))
    except (TypeError, ValueError):
        return 1


async def handle_delivery(
    delivery: Delivery,
    kind: Kind,
    handler: Callable[[Any], Awaitable[None]],
    *,
    max_attempts: int,
    source_queue: str,
) -> Outcome:
    attempt = attempt_of(delivery.headers)
    retry_body = delivery.body
    exc: BaseException | None = None
    try:
        if kind == "jobs":
            job = parse_job(delivery.body)
            attempt = max(attempt, job.attempt)
            retry_body = job.model_copy(update={"attempt": attempt + 1}).model_dump_json().encode()
            await handler(job)
        elif kind == "vectors":
            await handler(parse_vector_command(delivery.body))
        else:
            await handler(parse_event(delivery.body))
    except asyncio.CancelledError as cancelled:
        # The drain timeout passed or the broker is closing: give the message back, then stop.
        await _settle(
            delivery,
            Outcome(Action.REQUEUE, "cancelled"),
            attempt,
            retry_body,
            source_queue,
            kind,
        )
        raise cancelled
    except Exception as error:
        exc = error
    outcome = decide(kind, exc, attempt, max_attempts)
    if outcome.action is not Action.ACK:
        log.warning(
            "%s message %s (attempt %d): %s → %s",
            kind,
            delivery.message_id,
            attempt,
            outcome.reason,
            outcome.action.value,
        )
    if outcome.action is Action.REQUEUE:
        # The broker just failed us; an instant redelivery would spin while it recovers.
        try:
            await asyncio.sleep(REQUEUE_PAUSE_SECONDS)
        except asyncio.CancelledError:
            await _settle(delivery, outcome, attempt, retry_body, source_queue, kind)
            raise
    await _settle(delivery, outcome, attempt, retry_body, source_queue, kind)
    return outcome


async def _settle(
    delivery: Delivery,
    outcome: Outcome,
    attempt: int,
    retry_body: bytes,
    source_queue: str,
    kind: Kind,
) -> None:
    try:
        if outcome.action is Action.RETRY:
            headers = {**delivery.headers, ATTEMPT_HEADER: attempt + 1}
            await delivery.publish_retry(retry_body, headers)
        elif outcome.action is Action.WAIT:
            headers = {**delivery.headers, ATTEMPT_HEADER: attempt}
            await delivery.publish_retry(delivery.body, headers)
        elif outcome.action is Action.DEAD:
            headers = {
                **delivery.headers,
                ATTEMPT_HEADER: attempt,
                REASON_HEADER: outcome.reason,
                ERROR_TYPE_HEADER: outcome.error_type,
                SOURCE_HEADER: source_queue,
            }
            await delivery.publish_dead(delivery.body, headers)
            record_dead_letter(kind, outcome.dead_reason or DeadReason.other)
        elif outcome.action is Action.REQUEUE:
            await delivery.requeue()
            return
        # The copy is confirmed, so dropping the original loses nothing.
        await delivery.ack()
    except Exception:
        log.exception("could not settle %s message %s", source_queue, delivery.message_id)
        # Put it back rather than lose it; a broken channel gives it back by itself anyway.
        try:
            await delivery.requeue()
        except Exception:
            log.debug("requeue after a failed settle also failed", exc_info=True)
