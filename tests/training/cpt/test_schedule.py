"""Data windows and the learning-rate schedule."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from training.cpt.schedule import WindowSchedule, warmup_cosine


def test_windows_read_every_block_once_per_epoch_and_repeat_identically() -> None:
    schedule = WindowSchedule(blocks=10, window_blocks=4, seed=7)
    first = np.concatenate([schedule.window(w) for w in range(5)])  # 20 blocks = 2 epochs
    assert sorted(first[:10].tolist()) == list(range(10))
    assert sorted(first[10:].tolist()) == list(range(10))
    assert not np.array_equal(first[:10], first[10:])  # each epoch reshuffled
    again = WindowSchedule(blocks=10, window_blocks=4, seed=7)
    assert np.array_equal(again.window(3), schedule.window(3))
    assert schedule.steps_for(1.0) == 3 and schedule.epochs_read(5) == 2.0


def test_warmup_then_cosine_to_the_floor() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    scheduler = warmup_cosine(optimizer, warmup_steps=3, total_steps=13, min_ratio=0.1)
    rates = []
    for _ in range(14):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert math.isclose(rates[8], 0.1 + 0.9 * 0.5, rel_tol=1e-6)  # half way down the cosine
    assert math.isclose(rates[13], 0.1, rel_tol=1e-6)
    assert all(a >= b for a, b in itertools.pairwise(rates[3:]))
