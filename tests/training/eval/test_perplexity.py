"""Perplexity: every token scored once, equal to the direct computation, one report format."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.training.cpt.tiny_model import build_tiny_lm
from training.datasets.documents import DocumentEncoder, TextSource
from training.eval.perplexity import (
    PerplexityEvalConfig,
    _windows,
    model_perplexity,
    perplexity,
    run_perplexity_eval,
)


@pytest.fixture(scope="module")
def transcript(data_dir: Path) -> Path:
    return data_dir / "synthetic_meetings" / "synth_ru_meeting" / "synth_ru_meeting.ref.txt"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, transcript: Path) -> Path:
    return build_tiny_lm(tmp_path_factory.mktemp("ppl_lm"), [transcript.read_text("utf-8")])


@pytest.mark.parametrize(("length", "block", "stride"), [(10, 4, 3), (10, 4, 1), (3, 8, 7)])
def test_windows_score_every_token_but_the_first_exactly_once(
    length: int, block: int, stride: int
) -> None:
    scored: list[int] = []
    for begin, end, new in _windows(length, block, stride):
        assert end - begin <= block and new <= end - begin - 1
        scored += range(end - new, end)
    assert scored == list(range(1, length))


def test_matches_a_direct_forward_pass_and_untrained_is_near_vocab_size(
    tiny: Path, transcript: Path
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(tiny, local_files_only=True)
    text = transcript.read_text("utf-8")[:300]
    ids = DocumentEncoder.for_tokenizer(tokenizer).encode_many([text])[0]
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0, :-1]
    direct = torch.nn.functional.cross_entropy(logits, torch.tensor(ids[1:])).item()

    whole = model_perplexity(model, tokenizer, [text], block_size=512, progress=False)
    assert whole.tokens == len(ids) - 1 and not whole.truncated
    assert whole.mean_nll == pytest.approx(direct, rel=1e-5)
    assert whole.perplexity == pytest.approx(math.exp(direct), rel=1e-5)
    # A random 2-layer model is about as unsure as a uniform guess over its vocabulary.
    assert 0.5 * len(tokenizer) < whole.perplexity < 2 * len(tokenizer)

    # Short windows score the same tokens with less context: a different, finite number.
    windowed = model_perplexity(model, tokenizer, [text], block_size=16, stride=8, progress=False)
    assert windowed.tokens == whole.tokens
    assert math.isfinite(windowed.perplexity) and windowed.perplexity != whole.perplexity

    capped = model_perplexity(model, tokenizer, [text, text], max_tokens=20, progress=False)
    assert capped.tokens == 20 and capped.truncated and capped.documents == 1


def test_checkpoint_folder_and_stage_report(tiny: Path, transcript: Path, tmp_path: Path) -> None:
    texts = [transcript.read_text("utf-8")]
    from_dir = perplexity(tiny, texts, block_size=64, max_tokens=200, progress=False)
    report = run_perplexity_eval(
        PerplexityEvalConfig(
            model_dir=tiny,
            sources=[TextSource(path=transcript)],
            output_dir=tmp_path,
            block_size=64,
            max_tokens=200,
        )
    )
    assert report.stage == "eval-cpt"
    assert report.metrics["perplexity"] == pytest.approx(from_dir.perplexity, rel=1e-6)
    assert report.metrics["tokens"] == 200 and report.metrics["documents"] == 1
    assert report.timings["tokens_per_second"] > 0
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        perplexity(tmp_path, texts)
    with pytest.raises(ValueError, match="stride"):
        model_perplexity(torch.nn.Linear(1, 1), None, texts, block_size=8, stride=8)  # type: ignore[arg-type]
