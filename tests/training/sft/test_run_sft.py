"""The SFT stage end to end: a tiny Qwen2 model learns, the adapter is vLLM's form, the engine
loads it, and it changes the output. One run on the packaged 0.5B model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ml_controller.llm.transformers_engine import TransformersEngine
from ml_controller.settings import MLSettings
from training.config_io import load_config
from training.datasets.chat import load_examples
from training.eval.minutes import MinutesEvalConfig
from training.report import StageReport, read_report
from training.sft.config import SFTConfig
from training.sft.run import run_sft

from .tiny import build_tiny_qwen

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "training" / "configs"


def _config(
    base_model: str, data_dir: Path, output_dir: Path, examples: int, tokens: int, **train: object
) -> SFTConfig:
    # Short spans: much of a step is the logits over Qwen's 152k-token vocabulary.
    return SFTConfig.model_validate(
        {
            "base_model": base_model,
            "data_dir": str(data_dir),
            "output_dir": str(output_dir),
            "examples": {
                "max_tokens": tokens,
                "min_words": 20,
                "max_train_examples": examples,
                "max_dev_examples": min(examples, 3),
            },
            "train": {"warmup_steps": 0, "seed": 0, **train},
        }
    )


@pytest.fixture(scope="module")
def tiny_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SFTConfig]:
    torch.manual_seed(0)
    base = build_tiny_qwen(tmp_path_factory.mktemp("tiny_qwen"))
    # A high rate: a random 2-layer model must move visibly in 10 steps.
    config = _config(
        str(base), data_dir, tmp_path_factory.mktemp("sft"), 12, 448,
        max_steps=8, learning_rate=5e-3, batch_size=2,
    )  # fmt: skip
    run_sft(config)
    return base, config


@pytest.fixture(scope="module")
def tiny_report(tiny_run: tuple[Path, SFTConfig]) -> StageReport:
    return read_report(tiny_run[1].output_dir / "report.json")


def test_loss_decreases(tiny_report: StageReport) -> None:
    metrics = tiny_report.metrics
    assert metrics["steps"] == 8
    assert metrics["train_examples"] == 12 and metrics["dev_examples"] == 3
    before, after = metrics["dev_loss_before"], metrics["dev_loss_after"]
    assert before is not None and after is not None and after < before
    first, last = metrics["train_loss_first"], metrics["train_loss_last"]
    assert first is not None and last is not None and last < first


def test_report_measures_speed(tiny_report: StageReport) -> None:
    assert tiny_report.stage == "sft"
    assert tiny_report.timings["step_seconds"] > 0
    assert tiny_report.timings["tokens_per_second"] > 0
    seen = tiny_report.metrics["tokens_seen"]
    assert isinstance(seen, int) and seen >= 8 * 2 * 150  # 8 steps of 2 sequences
    assert (Path(tiny_report.artifacts["split"])).is_file()


def test_adapter_is_in_the_form_vllm_loads(tiny_run: tuple[Path, SFTConfig]) -> None:
    from safetensors import safe_open

    adapter = tiny_run[1].output_dir / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert config["r"] == 8 and config["lora_alpha"] == 16
    assert set(config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert not config.get("modules_to_save")
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as weights:
        keys = list(weights.keys())
    assert keys and all(".lora_A." in k or ".lora_B." in k for k in keys)
    assert not any("embed" in k or "lm_head" in k for k in keys)


def test_engine_loads_the_adapter_and_it_changes_the_output(
    tiny_run: tuple[Path, SFTConfig], data_dir: Path
) -> None:
    base, config = tiny_run
    messages = load_examples(data_dir / "summarization/qmsum_val.jsonl", 60, 200)[0].messages
    plain = TransformersEngine(MLSettings(llm_engine="transformers", llm_base_model_dir=base))
    tuned = TransformersEngine(
        MLSettings(
            llm_engine="transformers",
            llm_base_model_dir=base,
            llm_adapter_dir=config.output_dir / "adapter",
        )
    )
    before = plain.next_token_logits(messages)
    after = tuned.next_token_logits(messages)
    assert tuned.loaded().adapter == config.output_dir / "adapter"
    assert before.shape == after.shape
    assert (after - before).abs().max() > 1e-3


def test_example_configs_load() -> None:
    cpu = load_config(CONFIGS / "sft_qwen05b_cpu.yaml", SFTConfig)
    assert cpu.base_model == "qwen2.5-coder-0.5b-instruct" and cpu.evaluation is not None
    gpu = load_config(CONFIGS / "sft_7b.yaml", SFTConfig)
    assert gpu.train.dtype == "bfloat16" and gpu.lora.r == 16
    assert gpu.train.deepspeed_config == Path("training/configs/deepspeed_zero2_offload.json")
    assert (REPO / gpu.train.deepspeed_config).is_file()
    evaluation = load_config(CONFIGS / "eval_minutes_qwen05b_cpu.yaml", MinutesEvalConfig)
    assert evaluation.adapter_dir == cpu.output_dir / "adapter"


def test_packaged_qwen_two_steps_and_engine_loads(data_dir: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = _config("qwen2.5-coder-0.5b-instruct", data_dir, tmp_path, 2, 384, max_steps=2)
    config.examples.max_dev_examples = 1
    report = run_sft(config)
    assert report.metrics["steps"] == 2
    assert report.timings["tokens_per_second"] > 0
    engine = TransformersEngine(
        MLSettings(
            llm_engine="transformers",
            llm_base_model_dir=Path(report.artifacts["base_model"]),
            llm_adapter_dir=tmp_path / "adapter",
        )
    )
    messages = load_examples(data_dir / "summarization/qmsum_val.jsonl", 20, 60)[0].messages
    logits = engine.next_token_logits(messages)
    assert engine.loaded().adapter == tmp_path / "adapter"
    assert logits.shape[0] >= 151_643 and torch.isfinite(logits).all()
