"""Minutes evaluation: schema validity as the product defines it, ROUGE / BERTScore on the e5
model, and base vs adapter answers from one tiny model end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ml_controller.minutes.schema import DraftSpec
from training.eval.minutes import (
    MinutesEvalConfig,
    TextScorer,
    default_bertscore_model,
    run_minutes_eval,
    schema_valid,
    summary_text,
    unfenced,
)
from training.report import read_report

from ..sft.tiny import build_tiny_qwen

SPEC = DraftSpec("en", ("Grad A",), ("00:00",), topic_count=None)
GOOD = '{"language":"en","title":"Budget","summary":"They agreed on the budget."}'


def test_schema_valid_is_the_products_summary_draft() -> None:
    assert schema_valid(GOOD, SPEC)
    assert schema_valid("  " + GOOD + "\n", SPEC)
    assert not schema_valid(f"```json\n{GOOD}\n```", SPEC)
    assert schema_valid(unfenced(f"```json\n{GOOD}\n```"), SPEC)
    assert not schema_valid(GOOD.replace('"en"', '"ru"'), SPEC)  # language is fixed
    assert not schema_valid(GOOD[:-1] + ',"topics":[]}', SPEC)  # not asked in this task
    assert not schema_valid('{"language":"en","title":"Budget"}', SPEC)  # summary missing
    assert not schema_valid(GOOD[:-3], SPEC)  # cut off
    assert not schema_valid("The team agreed on the budget.", SPEC)


def test_summary_text_takes_the_field_or_the_prose() -> None:
    assert summary_text(GOOD) == "They agreed on the budget."
    assert summary_text(f"```json\n{GOOD}\n```") == "They agreed on the budget."
    assert summary_text("  They agreed.  ") == "They agreed."
    assert summary_text('["not", "an object"]') == '["not", "an object"]'


def test_scores_on_the_e5_model() -> None:
    scorer = TextScorer(default_bertscore_model())
    reference = "The group agreed to buy a new microphone for the meeting room."
    same, other, empty = scorer.scores(
        [reference, "Bananas are yellow fruit grown in warm countries.", ""], [reference] * 3
    )
    assert same["rougeL"] == pytest.approx(1.0) and same["bertscore_f1"] > 0.99
    assert other["rougeL"] < 0.2 and other["bertscore_f1"] < same["bertscore_f1"] - 0.05
    assert empty == {"rouge1": 0.0, "rougeL": 0.0, "bertscore_f1": 0.0}


@pytest.fixture(scope="module")
def tiny_with_adapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = build_tiny_qwen(tmp_path_factory.mktemp("tiny_qwen"))
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    # Random (not zero) LoRA weights: an adapter that surely changes the answers.
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter = tmp_path_factory.mktemp("adapter")
    get_peft_model(model, lora).save_pretrained(str(adapter))
    return base, adapter


def test_base_and_adapter_evaluated_end_to_end(
    tiny_with_adapter: tuple[Path, Path], data_dir: Path, tmp_path: Path
) -> None:
    base, adapter = tiny_with_adapter
    config = MinutesEvalConfig.model_validate(
        {
            "base_model": str(base),
            "adapter_dir": str(adapter),
            "data_dir": str(data_dir),
            "output_dir": str(tmp_path),
            "evaluation": {"examples": 2, "max_tokens": 512, "max_new_tokens": 6},
        }
    )
    report = run_minutes_eval(config)
    assert read_report(tmp_path / "report.json") == report
    metrics = report.metrics
    assert metrics["eval_examples"] == 2
    for variant in ("base", "adapter"):
        for key in ("schema_valid_rate", "rougeL", "bertscore_f1"):
            value = metrics[f"{variant}_{key}"]
            assert value is not None and 0.0 <= value <= 1.0
        assert metrics[f"{variant}_answer_tokens"] == 6  # a random model never stops early
        assert report.timings[f"{variant}_generated_tokens_per_second"] > 0
    rows = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and len({r["meeting_id"] for r in rows}) == 2
    assert all(r["reference"] and "answer" in r["base"] for r in rows)
    assert [r["base"]["answer"] for r in rows] != [r["adapter"]["answer"] for r in rows]
