"""The extractive baseline on real meetings with the packaged e5 embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml_controller.minutes.extractive import (
    MIN_SENTENCE_WORDS,
    extractive_summary,
    split_sentences,
)
from ml_controller.settings import MLSettings
from ml_controller.text_embedding import TextEmbedder
from tests.ml_controller.minutes.meetings import qmsum, synthetic


@pytest.fixture(scope="module")
def embedder(settings: MLSettings) -> TextEmbedder:
    return TextEmbedder.from_settings(settings)


def test_split_drops_backchannel_and_keeps_order() -> None:
    texts = ["Yeah .", "OK , so we need a new remote control design . Right ?", "Mm-hmm ."]
    assert split_sentences(texts) == ["OK , so we need a new remote control design ."]


def test_qmsum_meeting_central_sentences_within_budget(
    data_dir: Path, embedder: TextEmbedder
) -> None:
    meeting = qmsum(data_dir, "TS3010a")
    texts = [s.text for s in meeting.segments]
    summary = extractive_summary(texts, embedder, max_words=80)

    words = len(summary.text.split())
    assert 0 < words <= 80
    assert summary.candidates == len(split_sentences(texts)) > len(summary.sentences)
    assert all(len(s.split()) >= MIN_SENTENCE_WORDS for s in summary.sentences)
    # Every chosen sentence comes from the transcript, and they keep meeting order.
    joined = " ".join(texts)
    positions = [joined.find(s) for s in summary.sentences]
    assert all(p >= 0 for p in positions)
    assert positions == sorted(positions)
    # The chosen sentences are more central than the average candidate.
    candidates = split_sentences(texts)
    vectors = embedder.embed_passages(candidates)
    centroid = vectors.mean(axis=0)
    scores = vectors @ (centroid / np.linalg.norm(centroid))
    chosen = [candidates.index(s) for s in summary.sentences]
    assert scores[chosen].mean() > scores.mean()


def test_russian_meeting_and_empty_budget(data_dir: Path, embedder: TextEmbedder) -> None:
    meeting = synthetic(data_dir, "synth_ru_meeting")
    texts = [s.text for s in meeting.segments]
    summary = extractive_summary(texts, embedder, max_words=40)
    assert 0 < len(summary.text.split()) <= 40
    assert any("\u0400" <= ch <= "\u04ff" for ch in summary.text)
    assert extractive_summary(texts, embedder, max_words=0).text == ""
    assert extractive_summary([], embedder, max_words=40).sentences == []
