"""`minuta-train sft`: QMSum examples → LoRA adapter (+ optional evaluation) → StageReport.

The adapter directory holds what peft's `save_pretrained` writes, `adapter_config.json` and
`adapter_model.safetensors`: the form vLLM serves with `--lora-modules name=<dir>` and the
transformers engine loads with `MINUTA_LLM_ADAPTER_DIR=<dir>`.
"""

from __future__ import annotations

import gc
import json
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import TYPE_CHECKING

from training.base_models import load_causal_lm, resolve_base_model
from training.datasets.chat import ChatExample, load_examples, round_robin, split_by_meeting
from training.datasets.chat_tokens import TokenizedExample, tokenize_examples
from training.report import StageReport, now, write_report
from training.sft.config import SFTConfig
from training.sft.lora import attach_lora, trainable_parameters
from training.sft.train import TrainResult, train_lora, training_arguments

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class Prepared:
    train: list[ChatExample]
    dev: list[ChatExample]
    train_tokens: list[TokenizedExample]
    dev_tokens: list[TokenizedExample]
    dropped: int  # too long for examples.max_tokens


def prepare_examples(config: SFTConfig, tokenizer: PreTrainedTokenizerBase) -> Prepared:
    """Train and dev examples that fit max_tokens, dev from held-out meetings."""
    settings = config.examples
    examples = load_examples(config.data_dir / settings.train_file, min_words=settings.min_words)
    train, dev = split_by_meeting(examples, settings.dev_fraction)
    train, train_tokens = tokenize_examples(tokenizer, train, settings.max_tokens)
    dev, dev_tokens = tokenize_examples(tokenizer, dev, settings.max_tokens)
    dropped = len(examples) - len(train) - len(dev)
    if not train:
        raise ValueError(
            f"no training example of {config.data_dir / settings.train_file} fits "
            f"examples.max_tokens={settings.max_tokens}; raise it or lower examples.min_words"
        )
    tokens = {id(e): t for e, t in zip([*train, *dev], [*train_tokens, *dev_tokens], strict=True)}
    if settings.max_train_examples is not None:
        train = round_robin(train, settings.max_train_examples)
    dev = round_robin(dev, settings.max_dev_examples)
    return Prepared(
        train, dev, [tokens[id(e)] for e in train], [tokens[id(e)] for e in dev], dropped
    )


def _edge_mean(values: list[float], last: bool) -> float | None:
    """Mean of the first (or last) fifth of the logged losses: one step alone is noisy."""
    if not values:
        return None
    k = max(1, len(values) // 5)
    return fmean(values[-k:] if last else values[:k])


def _write_split(path: Path, prepared: Prepared) -> None:
    path.write_text(
        json.dumps(
            {
                "train_meetings": sorted({e.meeting_id for e in prepared.train}),
                "dev_meetings": sorted({e.meeting_id for e in prepared.dev}),
                "train": [[e.meeting_id, e.query] for e in prepared.train],
                "dev": [[e.meeting_id, e.query] for e in prepared.dev],
            },
            indent=1,
        )
        + "\n",
        encoding="utf-8",
    )


def run_sft(config: SFTConfig, config_path: str | None = None) -> StageReport:
    import torch
    from transformers import AutoTokenizer, set_seed

    started, began = now(), time.perf_counter()
    settings = config.train
    if settings.threads:
        torch.set_num_threads(settings.threads)
    set_seed(settings.seed)
    base_dir = resolve_base_model(config.base_model)
    tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    prepared = prepare_examples(config, tokenizer)
    train_tokens, dev_tokens = prepared.train_tokens, prepared.dev_tokens
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id

    args = training_arguments(settings, config.output_dir)
    model = load_causal_lm(base_dir, dtype=settings.dtype)
    model.config.use_cache = False  # no KV cache while training
    if settings.gradient_checkpointing:
        # With frozen embeddings, checkpointed blocks would get inputs without gradients.
        model.enable_input_require_grads()
    model = attach_lora(model, config.lora)
    trainable, total = trainable_parameters(model)
    result: TrainResult = train_lora(model, int(pad_id), train_tokens, dev_tokens, args)
    if not result.is_main:
        return StageReport(stage="sft", config=config_path, started=started)

    # ZeRO-2 keeps whole weights on every GPU, so the first process can save them directly.
    adapter_dir = config.output_dir / "adapter"
    model.save_pretrained(adapter_dir)
    missing = [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]
    if missing:
        raise RuntimeError(f"peft did not write {missing} into {adapter_dir}")
    split_path = config.output_dir / "split.json"
    _write_split(split_path, prepared)
    del model
    gc.collect()

    metrics: dict[str, float | int | None] = {
        "train_examples": len(train_tokens),
        "dev_examples": len(dev_tokens),
        "dropped_too_long": prepared.dropped,
        "steps": result.steps,
        "train_loss_first": _edge_mean(result.losses, last=False),
        "train_loss_last": _edge_mean(result.losses, last=True),
        "dev_loss_before": result.dev_loss_before,
        "dev_loss_after": result.dev_loss_after,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "mean_sequence_tokens": fmean(len(t.input_ids) for t in train_tokens),
        "mean_answer_tokens": fmean(t.target_tokens for t in train_tokens),
        "tokens_seen": result.tokens_seen,
    }
    timings = {
        "step_seconds": result.mean_step_seconds,
        "tokens_per_second": result.tokens_per_second,
        "train_seconds": result.seconds,
    }
    artifacts = {
        "adapter": str(adapter_dir),
        "base_model": str(base_dir),
        "split": str(split_path),
    }
    device = "CUDA" if torch.cuda.is_available() else f"{torch.get_num_threads()} CPU threads"
    lora = config.lora
    notes = [
        f"base model {config.base_model} ({base_dir}), dtype {settings.dtype}, {device}",
        f"LoRA r={lora.r} alpha={lora.alpha} on {', '.join(lora.target_modules)}",
        "task: the product's summary prompt on QMSum query spans, target = draft JSON",
    ]
    report = StageReport(
        stage="sft",
        config=config_path,
        started=started,
        seconds=round(time.perf_counter() - began, 1),
        metrics=metrics,
        timings=timings,
        artifacts=artifacts,
        notes=notes,
    )
    # Written before the (long) evaluation too, so an interrupted run keeps its training figures.
    write_report(report, config.output_dir)
    if config.evaluation is not None:
        from training.eval.minutes import evaluate_minutes

        evaluation = evaluate_minutes(
            base_dir, adapter_dir, config.data_dir, config.evaluation, config.output_dir / "eval"
        )
        report.metrics.update(evaluation.metrics)
        report.timings.update(evaluation.timings)
        if evaluation.answers_path is not None:
            report.artifacts["answers"] = str(evaluation.answers_path)
        report.notes.append(
            "evaluation: greedy unconstrained decoding on QMSum val spans, base vs base+adapter"
        )
        report.seconds = round(time.perf_counter() - began, 1)
        write_report(report, config.output_dir)
    return report
