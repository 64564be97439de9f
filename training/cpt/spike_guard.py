"""Loss-spike guard: spot a spike, roll back to the last good checkpoint, skip the data window.

Large runs diverge now and then: the loss jumps by a multiple and does not come back. The known
remedy (done by hand in the seed runs) is to restart from a checkpoint before the spike and skip
the data that was being read when it happened. The guard does it automatically: each optimizer
step's loss is compared with the median of recent good losses; a spike (or a NaN/inf) restores
model, optimizer, scheduler and step from the newest checkpoint and marks the window skipped.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from training.cpt.checkpoints import CheckpointStore, TrainerState
from training.cpt.config import SpikeGuardConfig
from training.errors import TrainingError

if TYPE_CHECKING:
    from accelerate import Accelerator


class TrainingDivergedError(TrainingError, RuntimeError):
    """Spikes keep coming after rollbacks: the run needs a lower learning rate or other data."""


@dataclass(frozen=True)
class SpikeCheck:
    is_spike: bool
    loss: float
    # The loss above which a value counts as a spike; None while the history is too short.
    threshold: float | None
    reason: str = ""


@dataclass
class SpikeEvent:
    window: int  # the data window whose loss spiked
    step: int  # optimizer updates applied when it was seen
    loss: float
    threshold: float | None
    reason: str
    skipped_windows: list[int]
    # Filled in by the rollback.
    checkpoint: Path | None = None
    restored_step: int | None = None


@dataclass
class SpikeGuard:
    config: SpikeGuardConfig
    good_losses: deque[float] = field(init=False)
    skipped: set[int] = field(default_factory=set)
    events: list[SpikeEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.good_losses = deque(maxlen=self.config.history)

    def check(self, loss: float) -> SpikeCheck:
        if not self.config.enabled:
            return SpikeCheck(False, loss, None)
        if not math.isfinite(loss):
            return SpikeCheck(True, loss, None, "loss is not finite")
        if len(self.good_losses) < self.config.min_history:
            return SpikeCheck(False, loss, None)
        threshold = self.config.factor * statistics.median(self.good_losses)
        if loss > threshold:
            return SpikeCheck(
                True, loss, threshold, f"loss {loss:.4g} > {self.config.factor} × median"
            )
        return SpikeCheck(False, loss, threshold)

    def accept(self, loss: float) -> None:
        self.good_losses.append(loss)

    def history(self) -> list[float]:
        return list(self.good_losses)

    def load_history(self, losses: list[float]) -> None:
        self.good_losses.clear()
        self.good_losses.extend(losses)

    def record_spike(self, window: int, step: int, check: SpikeCheck) -> SpikeEvent:
        """Marks the window (and the configured ones before it) skipped; counts the rollback."""
        if len(self.events) >= self.config.max_rollbacks:
            raise TrainingDivergedError(
                f"loss spiked again at window {window} (step {step}, {check.reason}) after "
                f"{len(self.events)} rollbacks: lower learning_rate, raise warmup_steps or check "
                "the data; spike_guard.max_rollbacks caps the retries"
            )
        first = max(0, window - self.config.skip_windows_before)
        skipped = list(range(first, window + 1))
        self.skipped.update(skipped)
        event = SpikeEvent(window, step, check.loss, check.threshold, check.reason, skipped)
        self.events.append(event)
        return event


def rollback_target(store: CheckpointStore, guard: SpikeGuard, step: int) -> Path | None:
    """The newest checkpoint, unless training spiked again straight after restoring it.

    A spike on the first window read after a rollback (no update since) suggests that checkpoint
    itself is unstable, so the one before it is used and the suspect one deleted.
    """
    saved = store.saved()
    previous = guard.events[-2] if len(guard.events) >= 2 else None
    again = previous is not None and previous.restored_step == step
    if again and len(saved) >= 2 and store.step_of(saved[-1]) == step:
        return saved[-2]
    return saved[-1] if saved else None


def roll_back(
    accelerator: Accelerator,
    store: CheckpointStore,
    guard: SpikeGuard,
    event: SpikeEvent,
) -> TrainerState:
    """Restores the last good checkpoint; the guard keeps its skipped windows across the restore."""
    checkpoint = rollback_target(store, guard, event.step)
    if checkpoint is None:
        raise TrainingDivergedError(
            f"loss spiked at window {event.window} but {store.folder} holds no checkpoint"
        )
    for newer in store.saved():
        if newer > checkpoint:
            store.discard(newer, accelerator)
    state = store.restore(accelerator, checkpoint)
    guard.load_history(state.good_losses)
    state.skipped_windows = sorted(guard.skipped)
    event.checkpoint = checkpoint
    event.restored_step = state.step
    return state
