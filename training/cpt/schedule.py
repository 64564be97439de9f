"""Which blocks each optimizer step reads, and its learning rate.

The blocks are read as an endless stream of seeded per-epoch shuffles, cut into windows of
`micro_batch × accumulation × processes` blocks: window w is the same on every process and every
rerun, so the spike guard can name a window and skip exactly it, and nothing is dropped at an
epoch's end (a window may span two epochs).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR


class WindowSchedule:
    def __init__(self, blocks: int, window_blocks: int, seed: int) -> None:
        if blocks < 1 or window_blocks < 1:
            raise ValueError("a window schedule needs at least one block and one block per window")
        self.blocks = blocks
        self.window_blocks = window_blocks
        self.seed = seed
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders[epoch] = np.random.default_rng(self.seed + epoch).permutation(self.blocks)
            # Only a few epochs are ever in use at once.
            for old in [e for e in self._orders if e < epoch - 1]:
                del self._orders[old]
        return self._orders[epoch]

    def window(self, index: int) -> np.ndarray:
        """Block indices of window `index`, in reading order."""
        start = index * self.window_blocks
        positions = np.arange(start, start + self.window_blocks)
        epochs, offsets = np.divmod(positions, self.blocks)
        return np.array([self._order(int(e))[o] for e, o in zip(epochs, offsets, strict=True)])

    def epochs_read(self, windows: int) -> float:
        return windows * self.window_blocks / self.blocks

    def steps_for(self, epochs: float) -> int:
        return max(1, math.ceil(epochs * self.blocks / self.window_blocks))


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_ratio: float
) -> LambdaLR:
    """Linear warmup to the base rate, then a cosine down to `min_ratio` of it at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        decay_steps = max(1, total_steps - warmup_steps)
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
