"""Packing: fixed blocks, nothing padded, nothing lost but the reported tail."""

from __future__ import annotations

import numpy as np
import pytest

from training.cpt.packing import PackingError, document_positions, pack
from training.datasets.documents import TokenStream

EOS = 1


def _stream(lengths: list[int]) -> TokenStream:
    pieces, starts, total = [], [], 0
    for n, length in enumerate(lengths):
        starts.append(total)
        pieces.append(np.array([*range(10 + 100 * n, 10 + 100 * n + length - 1), EOS]))
        total += length
    return TokenStream(np.concatenate(pieces).astype(np.int32), np.array(starts), 0)


def test_blocks_are_the_stream_cut_in_order_with_only_the_tail_left() -> None:
    stream = _stream([7, 12, 5, 9])  # 33 tokens
    packed = pack(stream, 8, reset_position_ids=False)
    assert packed.blocks == 4 and packed.tail_tokens == 1
    assert packed.tokens + packed.tail_tokens == stream.tokens
    assert np.array_equal(packed.input_ids.reshape(-1), stream.ids[:32])
    # Documents stay separated by their EOS, also across a block boundary.
    assert (packed.input_ids == EOS).sum() == 3
    assert packed.position_ids is None


def test_position_ids_restart_at_documents_and_blocks() -> None:
    stream = _stream([3, 6, 4])  # starts at 0, 3, 9
    packed = pack(stream, 5, reset_position_ids=True)
    assert packed.position_ids is not None
    assert packed.position_ids.tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]]
    assert document_positions(13, np.array([0, 3, 11]), 5).tolist()[9:] == [4, 0, 0, 1]


def test_too_little_text_for_one_block_is_an_error() -> None:
    with pytest.raises(PackingError, match="fewer than one block of 64"):
        pack(_stream([10, 10]), 64, reset_position_ids=False)
