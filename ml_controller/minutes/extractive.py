"""An extractive summary: the transcript's most central sentences, in meeting order.

Centrality is the cosine of a sentence's embedding to the mean embedding of all sentences (the
meeting's centroid). It needs no LLM, so it is the baseline the LLM minutes must beat, and a
fallback summary when no LLM is configured.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml_controller.topics.segmenter import PassageEmbedder

# Split after . ! ? … followed by a space; good enough for transcript text.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
# Back-channel ("Yeah .", "OK , so") says nothing about the meeting and would crowd the centroid.
MIN_SENTENCE_WORDS = 6


@dataclass(frozen=True)
class ExtractiveSummary:
    text: str
    sentences: list[str]  # the chosen sentences, in meeting order
    candidates: int  # sentences long enough to be considered


def split_sentences(texts: Sequence[str], min_words: int = MIN_SENTENCE_WORDS) -> list[str]:
    """Sentences of the given turns, in order, dropping those shorter than `min_words`."""
    sentences: list[str] = []
    for text in texts:
        for piece in _SENTENCE_END.split(" ".join(text.split())):
            if len(piece.split()) >= min_words:
                sentences.append(piece)
    return sentences


def extractive_summary(
    texts: Sequence[str], embedder: PassageEmbedder, max_words: int
) -> ExtractiveSummary:
    """The most central sentences whose words add up to at most `max_words`.

    When not even one sentence fits, the most central one is cut to `max_words` words.
    """
    sentences = split_sentences(texts)
    if not sentences or max_words <= 0:
        return ExtractiveSummary("", [], len(sentences))
    vectors = np.asarray(embedder.embed_passages(sentences), dtype=np.float32)
    centroid = vectors.mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    scores = vectors @ centroid
    chosen: list[int] = []
    words = 0
    for index in np.argsort(-scores, kind="stable"):
        size = len(sentences[index].split())
        if words + size > max_words:
            continue  # a shorter sentence further down may still fit
        chosen.append(int(index))
        words += size
        if words >= max_words:
            break
    if not chosen:
        picked = [" ".join(sentences[int(np.argmax(scores))].split()[:max_words])]
    else:
        picked = [sentences[i] for i in sorted(chosen)]
    return ExtractiveSummary(" ".join(picked), picked, len(sentences))
