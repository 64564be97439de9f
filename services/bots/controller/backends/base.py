"""The one interface every compute backend offers the controller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.bots.contracts import BotSpec


class BackendError(Exception):
    """The backend could not be asked (API down, refused): try again later, reap nothing."""


@dataclass(frozen=True)
class RunnerHandle:
    backend: str
    # What the backend needs to find the runner again after an API restart (pid, Job, server).
    ref: str


class ComputeBackend(Protocol):
    name: str

    def launch(self, spec: BotSpec) -> RunnerHandle:
        """Start a runner for the bot; returns once it is started (not joined)."""
        ...

    def is_alive(self, handle: RunnerHandle) -> bool:
        """False once the runner ended or vanished; raises BackendError when unknown."""
        ...

    def stop(self, handle: RunnerHandle) -> None:
        """Stop the runner if it still runs and free what it held; idempotent."""
        ...
