"""Merge a new-language BPE into a base BPE: base ids and merges untouched, new tokens appended.

BPE applies merges by rank, so merges appended after all base merges only act on the base's own
segmentation of a word: base text (English) can only get fewer tokens, never different ones. But a
new token's merge learned on raw bytes may never fire on top of the base segmentation (the base
already grouped its bytes differently). So each new token, in the new tokenizer's merge order, gets
the one merge that builds it from the pieces the merged tokenizer produces for it at that point;
a token those pieces cannot reach in one merge is left out. Every added token is then produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tokenizers import Tokenizer
from tqdm import tqdm

from training.tokenizer.train import check_byte_level_bpe

Pair = tuple[str, str]


@dataclass
class MergeResult:
    tokenizer: Tokenizer
    # New tokens in id order; the first has id `first_new_id`.
    added_tokens: list[str]
    first_new_id: int
    added_merges: int
    # New-tokenizer tokens already in the base vocabulary.
    duplicates: int
    # New-tokenizer tokens no single appended merge can produce.
    unreachable: int


def _pairs(merges: list[Any]) -> list[Pair]:
    # tokenizers writes merges as ["a", "b"] since 0.20 and as "a b" before.
    out: list[Pair] = []
    for merge in merges:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        out.append((left, right))
    return out


def bpe_pieces(symbol_string: str, ranks: dict[Pair, int]) -> list[str]:
    """The BPE segmentation of one pre-token (already in byte-level symbols) under `ranks`."""
    pieces = list(symbol_string)
    while len(pieces) > 1:
        best_rank, best_at = None, -1
        for at in range(len(pieces) - 1):
            rank = ranks.get((pieces[at], pieces[at + 1]))
            if rank is not None and (best_rank is None or rank < best_rank):
                best_rank, best_at = rank, at
        if best_rank is None:
            break
        pieces[best_at : best_at + 2] = [pieces[best_at] + pieces[best_at + 1]]
    return pieces


def merge_tokenizers(base: Tokenizer, new: Tokenizer, show_progress: bool = False) -> MergeResult:
    """The base tokenizer with the new tokenizer's tokens (and merges producing them) appended."""
    check_byte_level_bpe(base)
    spec = json.loads(base.to_str())
    model = spec["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    base_merges = _pairs(model["merges"])
    ranks = {pair: rank for rank, pair in enumerate(base_merges)}
    # The BPE model's vocabulary must cover the added (special) tokens' ids too: tokenizers
    # re-numbers added tokens missing from it after the model's size, which the new tokens grow.
    for special in spec.get("added_tokens", []):
        vocab.setdefault(special["content"], special["id"])
    first_new_id = max(vocab.values()) + 1
    next_id = first_new_id

    appended: list[Pair] = []
    added: list[str] = []
    duplicates = unreachable = 0
    new_merges = _pairs(json.loads(new.to_str())["model"]["merges"])
    for left, right in tqdm(new_merges, desc="merging tokenizers", disable=not show_progress):
        token = left + right
        if token in vocab:
            duplicates += 1
        pieces = bpe_pieces(token, ranks)
        if len(pieces) == 1:
            continue  # the merged tokenizer already produces it
        if len(pieces) > 2:
            unreachable += 1
            continue
        pair = (pieces[0], pieces[1])
        ranks[pair] = len(ranks)
        appended.append(pair)
        if token not in vocab:
            vocab[token] = next_id
            added.append(token)
            next_id += 1

    as_strings = bool(model["merges"]) and isinstance(model["merges"][0], str)
    model["vocab"] = vocab
    model["merges"] = [f"{a} {b}" if as_strings else [a, b] for a, b in (*base_merges, *appended)]
    return MergeResult(
        tokenizer=Tokenizer.from_str(json.dumps(spec, ensure_ascii=False)),
        added_tokens=added,
        first_new_id=first_new_id,
        added_merges=len(appended),
        duplicates=duplicates,
        unreachable=unreachable,
    )
