"""The spike guard: what counts as a spike, and a rollback restoring every piece of state."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from training.cpt.checkpoints import CheckpointStore, TrainerState
from training.cpt.config import SpikeGuardConfig
from training.cpt.schedule import warmup_cosine
from training.cpt.spike_guard import SpikeGuard, TrainingDivergedError, roll_back


def _guard(**overrides: object) -> SpikeGuard:
    return SpikeGuard(SpikeGuardConfig.model_validate({"min_history": 3, **overrides}))


def test_spike_is_a_multiple_of_the_recent_median_or_not_finite() -> None:
    guard = _guard(factor=2.0)
    # Too little history to judge: even a big jump passes (early loss falls fast).
    assert not guard.check(50.0).is_spike
    for loss in (3.0, 2.0, 2.5):
        guard.accept(loss)
    assert not guard.check(4.9).is_spike
    spike = guard.check(5.1)
    assert spike.is_spike and spike.threshold == pytest.approx(5.0)
    assert guard.check(math.nan).is_spike and guard.check(math.inf).is_spike
    assert not _guard(enabled=False).check(math.nan).is_spike


def test_recording_a_spike_skips_its_window_and_caps_the_retries() -> None:
    guard = _guard(skip_windows_before=2, max_rollbacks=2)
    event = guard.record_spike(window=10, step=9, check=guard.check(math.nan))
    assert event.skipped_windows == [8, 9, 10] and guard.skipped == {8, 9, 10}
    guard.record_spike(window=20, step=17, check=guard.check(math.nan))
    with pytest.raises(TrainingDivergedError, match="after 2 rollbacks"):
        guard.record_spike(window=30, step=25, check=guard.check(math.nan))


def test_rollback_restores_model_optimizer_scheduler_and_step(tmp_path: Path) -> None:
    torch.manual_seed(0)
    accelerator = Accelerator()
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    scheduler = warmup_cosine(optimizer, warmup_steps=2, total_steps=20, min_ratio=0.1)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    store = CheckpointStore(tmp_path, keep=2)
    x, y = torch.randn(16, 8), torch.randn(16, 1)

    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()

    for _ in range(3):
        step()
    saved = TrainerState(step=3, cursor=4, tokens_seen=300, good_losses=[1.0, 0.9, 0.8])
    store.save(accelerator, saved)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    moments = optimizer.state_dict()["state"][0]["exp_avg"].clone()
    lr = scheduler.get_last_lr()[0]
    for _ in range(4):
        step()
    assert not torch.equal(model.state_dict()["0.weight"], weights["0.weight"])

    guard = _guard()
    event = guard.record_spike(window=8, step=7, check=guard.check(math.nan))
    state = roll_back(accelerator, store, guard, event)

    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], moments)
    assert scheduler.get_last_lr()[0] == lr and scheduler.last_epoch == 3
    assert (state.step, state.cursor, state.tokens_seen) == (3, 4, 300)
    assert guard.history() == [1.0, 0.9, 0.8]
    assert state.skipped_windows == [8]
    assert event.restored_step == 3 and event.checkpoint == store.latest()


def test_store_keeps_the_newest_checkpoints_only(tmp_path: Path) -> None:
    accelerator = Accelerator()
    model = accelerator.prepare(torch.nn.Linear(2, 2))
    del model
    store = CheckpointStore(tmp_path, keep=2)
    for step in (0, 5, 10):
        store.save(accelerator, TrainerState(step=step))
    assert [store.step_of(p) for p in store.saved()] == [5, 10]
