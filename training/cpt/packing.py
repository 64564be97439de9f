"""A token stream → fixed-length blocks: no padding, documents separated by their EOS.

Every token lands in a block except the stream's tail remainder (fewer than `block_size` tokens),
which is reported. Documents cross block boundaries; that is how causal-LM pretraining packs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.datasets.documents import TokenStream
from training.errors import TrainingError


class PackingError(TrainingError, ValueError):
    """The stream does not fill a single block."""


@dataclass(frozen=True)
class PackedBlocks:
    input_ids: np.ndarray  # int32 [blocks, block_size]
    # Positions restarting at each document and at each block start (for FlashAttention 2's
    # per-document attention); None when the model uses ordinary 0..block_size-1 positions.
    position_ids: np.ndarray | None
    tail_tokens: int

    @property
    def blocks(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def block_size(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def tokens(self) -> int:
        return int(self.input_ids.size)


def document_positions(length: int, doc_starts: np.ndarray, block_size: int) -> np.ndarray:
    """Each token's offset from the latest document start or block start, whichever is later."""
    index = np.arange(length, dtype=np.int64)
    is_start = index % block_size == 0
    starts = doc_starts[doc_starts < length]
    is_start[starts] = True
    latest_start = np.maximum.accumulate(np.where(is_start, index, 0))
    return (index - latest_start).astype(np.int32)


def pack(stream: TokenStream, block_size: int, *, reset_position_ids: bool) -> PackedBlocks:
    blocks = stream.tokens // block_size
    if blocks == 0:
        raise PackingError(
            f"the training text has {stream.tokens} tokens, fewer than one block of "
            f"{block_size}: lower block_size or add text"
        )
    kept = blocks * block_size
    input_ids = stream.ids[:kept].reshape(blocks, block_size)
    positions = None
    if reset_position_ids:
        positions = document_positions(kept, stream.doc_starts, block_size).reshape(
            blocks, block_size
        )
    return PackedBlocks(input_ids, positions, stream.tokens - kept)
