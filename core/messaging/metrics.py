"""Metrics of the message flow itself, counted in whichever process settles a message.

`minuta_dead_letters_total{queue, reason}` is the poison-message alert: the API counts the events
it dead-letters, a worker the jobs and vector commands, `minuta serve` both. Each process serves
`REGISTRY` beside its own metrics (the API's /metrics, the worker's health endpoint).

Labels stay bounded: `queue` is the kind of work queue (jobs, events, vectors), `reason` one of
`DeadReason`; the full reason travels in the dead letter's headers.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError

from core.contracts import UnknownContractError
from core.messaging.topology import Names

REGISTRY = CollectorRegistry()


class DeadReason(StrEnum):
    malformed = "malformed"  # not JSON at all
    unknown_contract = "unknown_contract"  # JSON, but no message of a version this code reads
    max_attempts = "max_attempts"  # a transient failure that did not go away
    internal = "internal"  # the handler failed in a way retrying cannot fix
    other = "other"


DEAD_LETTERS = Counter(
    "minuta_dead_letters",
    "Messages moved to a dead-letter queue, by work queue and reason",
    ["queue", "reason"],
    registry=REGISTRY,
)


def dead_reason(exc: BaseException | None, *, gave_up: bool) -> DeadReason:
    """The bounded label for why a message was dead-lettered."""
    if gave_up:
        return DeadReason.max_attempts
    if isinstance(exc, UnknownContractError):
        cause = exc.__cause__
        if isinstance(cause, ValidationError) and any(
            error["type"] in ("json_invalid", "json_type") for error in cause.errors()
        ):
            return DeadReason.malformed
        return DeadReason.unknown_contract
    if exc is None:
        return DeadReason.other
    return DeadReason.internal


def record_dead_letter(queue: str, reason: DeadReason) -> None:
    DEAD_LETTERS.labels(queue, reason.value).inc()


def depth_queues(names: Names) -> dict[str, str]:
    """minuta_queue_depth label → queue name, for one deployment's names."""
    return {
        "jobs": names.jobs.name,
        "jobs_retry": names.jobs.retry,
        "jobs_dead": names.jobs.dead,
        "events_dead": names.events.dead,
        "vectors": names.vectors.name,
    }


# Series at zero from the start, so an alert on increase() fires on the first dead letter.
for _queue in ("jobs", "events", "vectors"):
    for _reason in DeadReason:
        DEAD_LETTERS.labels(_queue, _reason.value)
