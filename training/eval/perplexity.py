"""Perplexity of a causal LM on held-out text: the CPT stage's quality measure.

Each document is scored on its own (no context from other documents), in windows of at most
`block_size` tokens whose ends advance by `stride` (default `block_size - 1`: back to back); each
window after the first sees `block_size - stride` tokens of context, and every token but the
document's first is scored exactly once.
Documents are encoded as in training (BOS if the model uses one, text, EOS), so the numbers
before and after CPT compare like with like.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from training.base_models import load_causal_lm
from training.datasets.documents import DocumentEncoder, TextSource, read_documents
from training.report import StageReport, now

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class PerplexityResult:
    perplexity: float
    mean_nll: float  # nats per scored token
    tokens: int  # tokens scored
    documents: int
    seconds: float
    # Whether `max_tokens` cut the text short.
    truncated: bool

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


def _windows(length: int, block_size: int, stride: int) -> list[tuple[int, int, int]]:
    """(begin, end, tokens newly scored) per window; the first token is never scored.

    Each window after the first scores the `stride` tokens after the previous one, with the
    window start pulled back so at least one earlier token is context (hence stride < block).
    """
    out = []
    scored_until = 1
    end = min(block_size, length)
    while scored_until < length:
        begin = max(0, end - block_size)
        out.append((begin, end, end - scored_until))
        scored_until = end
        end = min(scored_until + stride, length)
    return out


def _budget(documents: list[list[int]], max_tokens: int | None) -> tuple[list[list[int]], bool]:
    if max_tokens is None:
        return documents, False
    kept: list[list[int]] = []
    left = max_tokens
    for ids in documents:
        if left <= 0:
            return kept, True
        if len(ids) - 1 > left:
            kept.append(ids[: left + 1])
            return kept, True
        kept.append(ids)
        left -= len(ids) - 1
    return kept, False


def model_perplexity(
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    block_size: int = 1024,
    stride: int | None = None,
    max_tokens: int | None = None,
    separator_token: str | None = None,
    progress: bool = True,
) -> PerplexityResult:
    """Perplexity of a loaded model (any module that takes input_ids and labels)."""
    stride = stride or block_size - 1
    if not 0 < stride < block_size:
        raise ValueError(f"stride must be in 1..block_size-1 ({block_size - 1}), got {stride}")
    if not texts:
        raise ValueError("perplexity needs at least one text")
    started = time.perf_counter()
    encoder = DocumentEncoder.for_tokenizer(tokenizer, separator_token)
    documents, truncated = _budget(encoder.encode_many(texts), max_tokens)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nll_sum = 0.0
    scored = 0
    jobs = [(ids, w) for ids in documents for w in _windows(len(ids), block_size, stride)]
    try:
        with torch.inference_mode():
            for ids, (begin, end, new) in tqdm(
                jobs, desc="perplexity", unit="window", disable=not progress
            ):
                window = torch.tensor([ids[begin:end]], device=device)
                labels = window.clone()
                # Context tokens already scored by the previous window are not scored again.
                labels[:, : end - begin - new] = -100
                loss = model(input_ids=window, labels=labels).loss
                nll_sum += float(loss) * new
                scored += new
    finally:
        model.train(was_training)
    mean_nll = nll_sum / scored if scored else float("nan")
    return PerplexityResult(
        perplexity=math.exp(mean_nll) if scored else float("nan"),
        mean_nll=mean_nll,
        tokens=scored,
        documents=len(documents),
        seconds=time.perf_counter() - started,
        truncated=truncated,
    )


def perplexity(
    model_dir: Path,
    texts: Sequence[str],
    *,
    block_size: int = 1024,
    stride: int | None = None,
    max_tokens: int | None = None,
    device: str = "cpu",
    dtype: Literal["float32", "bfloat16"] = "float32",
    progress: bool = True,
) -> PerplexityResult:
    """Perplexity of the transformers checkpoint in `model_dir` on `texts`."""
    from transformers import AutoTokenizer

    model = load_causal_lm(model_dir, dtype=dtype)
    model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    return model_perplexity(
        model,
        tokenizer,
        texts,
        block_size=block_size,
        stride=stride,
        max_tokens=max_tokens,
        progress=progress,
    )


class PerplexityEvalConfig(BaseModel):
    """`minuta-train eval --kind cpt`: a checkpoint's perplexity on held-out text."""

    model_config = ConfigDict(extra="forbid")

    model_dir: Path
    sources: list[TextSource] = Field(min_length=1)
    output_dir: Path
    block_size: int = Field(default=1024, ge=8)
    stride: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=16384, ge=1)
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16"] = "float32"
    num_threads: int | None = 2


def run_perplexity_eval(config: PerplexityEvalConfig) -> StageReport:
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    started = now()
    texts = [d.text for d in read_documents(config.sources)]
    result = perplexity(
        config.model_dir.expanduser(),
        texts,
        block_size=config.block_size,
        stride=config.stride,
        max_tokens=config.max_tokens,
        device=config.device,
        dtype=config.dtype,
    )
    notes = []
    if result.truncated:
        notes.append(f"scored the first {result.tokens} tokens only (max_tokens)")
    return StageReport(
        stage="eval-cpt",
        started=started,
        seconds=result.seconds,
        metrics={
            "perplexity": result.perplexity,
            "mean_nll": result.mean_nll,
            "tokens": result.tokens,
            "documents": result.documents,
        },
        timings={"tokens_per_second": result.tokens_per_second},
        artifacts={"model_dir": str(config.model_dir)},
        notes=notes,
    )
