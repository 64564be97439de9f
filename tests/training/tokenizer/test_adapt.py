"""The whole stage (train → merge → measure → extend → save) on a tiny checkpoint and Qwen 0.5B."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from tests.training.tokenizer.conftest import en_eval_source, ru_eval_source, russian_words
from tests.training.tokenizer.test_embeddings import tiny_model, weights
from training.config_io import load_config
from training.report import write_report
from training.tokenizer.adapt import TokenizerConfig, run_tokenizer
from training.tokenizer.corpus import JsonlSource

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"


def stage_config(data_dir: Path, base_model: str, out: Path, **changes: object) -> TokenizerConfig:
    settings = {
        "base_model": base_model,
        "output_dir": out,
        "train": [russian_words(3000)],
        "eval_ru": [ru_eval_source(data_dir)],
        "eval_en": [en_eval_source(data_dir)],
        "vocab_size": 900,
        "show_progress": False,
    }
    return TokenizerConfig.model_validate(settings | changes)


def numbers(metrics: dict[str, float | int | None]) -> dict[str, float]:
    assert None not in metrics.values()
    return {name: float(value or 0) for name, value in metrics.items()}


@pytest.fixture
def tiny_checkpoint(tiny_base: Tokenizer, tmp_path: Path) -> Path:
    path = tmp_path / "base"
    tiny_model(tiny_base.get_vocab_size(with_added_tokens=True), tied=False).save_pretrained(path)
    fast = PreTrainedTokenizerFast(tokenizer_object=tiny_base, eos_token="<|endoftext|>")
    fast.save_pretrained(path)
    return path


def test_stage_on_a_tiny_checkpoint(data_dir: Path, tiny_checkpoint: Path, tmp_path: Path) -> None:
    config = stage_config(data_dir, str(tiny_checkpoint), tmp_path / "out")
    report = run_tokenizer(config)
    write_report(report, config.output_dir)

    metrics = numbers(report.metrics)
    assert metrics["ru_chars_per_token_merged"] > metrics["ru_chars_per_token_base"]
    assert metrics["en_chars_per_token_merged"] >= metrics["en_chars_per_token_base"]
    assert metrics["round_trip_failures"] == 0
    assert metrics["embedding_rows_initialised"] == metrics["added_tokens"] > 0
    assert (config.output_dir / "report.md").is_file()

    # The saved checkpoint loads with transformers; tokenizer and embeddings agree in size.
    model_dir = Path(report.artifacts["model"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    assert len(tokenizer) == metrics["merged_vocab_size"] == model.config.vocab_size
    assert weights(model)[0].shape[0] == len(tokenizer)
    text = "Дело в том, что я приехал просить руки у вашей дочери."
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    assert max(ids) >= metrics["old_vocab_size"]
    base = AutoModelForCausalLM.from_pretrained(tiny_checkpoint, local_files_only=True)
    old = int(metrics["old_vocab_size"])
    for saved, original in zip(weights(model), weights(base), strict=True):
        assert torch.equal(saved[:old], original)


def test_stage_on_packaged_qwen(data_dir: Path, qwen_dir: Path, tmp_path: Path) -> None:
    config = stage_config(
        data_dir,
        "qwen2.5-coder-0.5b-instruct",
        tmp_path,
        train=[russian_words(20_000)],
        vocab_size=4000,
        extend_model=False,
    )
    report = run_tokenizer(config)
    metrics = numbers(report.metrics)
    assert metrics["ru_chars_per_token_merged"] > metrics["ru_chars_per_token_base"]
    assert metrics["en_chars_per_token_merged"] >= metrics["en_chars_per_token_base"]
    assert metrics["round_trip_failures"] == 0
    assert "model" not in report.artifacts

    tokenizer = AutoTokenizer.from_pretrained(report.artifacts["tokenizer"], local_files_only=True)
    assert len(tokenizer) == metrics["merged_vocab_size"]
    base = AutoTokenizer.from_pretrained(qwen_dir, local_files_only=True)
    assert tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False
    ) == base.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert tokenizer.eos_token_id == base.eos_token_id


def test_evaluation_text_cannot_be_trained_on(data_dir: Path, tmp_path: Path) -> None:
    leaked = en_eval_source(data_dir)
    with pytest.raises(ValidationError, match="also used for training"):
        TokenizerConfig(
            output_dir=tmp_path,
            train=[russian_words(100), JsonlSource(path=leaked.path, field="id")],
            eval_ru=[ru_eval_source(data_dir)],
            eval_en=[leaked],
        )


@pytest.mark.parametrize("name", ["tokenizer_ru.yaml", "tokenizer_ru_7b.yaml"])
def test_example_configs_load(name: str) -> None:
    config = load_config(CONFIGS / name, TokenizerConfig)
    assert config.extend_model
    assert any(source.kind == "wordfreq" for source in config.train)
