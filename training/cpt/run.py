"""`minuta-train cpt`: read text, pack it, train, and report perplexity before and after."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from training.base_models import load_causal_lm
from training.cpt.config import CPTConfig
from training.cpt.hardware import resolve_runtime
from training.cpt.loop import LoopHooks, train
from training.cpt.packing import pack
from training.datasets.documents import (
    DocumentEncoder,
    read_documents,
    split_held_out,
    token_stream,
)
from training.eval.perplexity import PerplexityResult, model_perplexity
from training.report import StageReport, now


def resolve_model_dir(config: CPTConfig) -> Path:
    if config.model_dir is not None:
        model_dir = config.model_dir.expanduser()
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"model_dir {model_dir} has no config.json: point it at a transformers checkpoint"
            )
        return model_dir
    from training.base_models import packaged_checkpoint

    if config.packaged_model is None:
        raise ValueError("set model_dir or packaged_model in the config")
    return packaged_checkpoint(config.packaged_model)


def run_cpt(config: CPTConfig, hooks: LoopHooks | None = None) -> StageReport:
    from transformers import AutoTokenizer

    started_at, started = now(), time.perf_counter()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    torch.manual_seed(config.seed)
    runtime = resolve_runtime(config)
    model_dir = resolve_model_dir(config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)

    documents = read_documents(config.train_sources)
    if config.eval_sources:
        train_docs, eval_docs = documents, read_documents(config.eval_sources)
    else:
        train_docs, eval_docs = split_held_out(documents, config.eval_fraction, config.seed)
    encoder = DocumentEncoder.for_tokenizer(tokenizer, config.separator_token)
    stream = token_stream(train_docs, encoder, config.max_train_tokens)
    blocks = pack(stream, config.block_size, reset_position_ids=runtime.reset_position_ids)

    model = load_causal_lm(model_dir, dtype=config.torch_dtype, attention=runtime.attention)
    eval_texts = [d.text for d in eval_docs]

    def held_out(m: torch.nn.Module) -> PerplexityResult:
        return model_perplexity(
            m,
            tokenizer,
            eval_texts,
            block_size=config.block_size,
            max_tokens=config.eval_max_tokens,
            separator_token=config.separator_token,
        )

    before = held_out(model) if eval_texts else None
    result = train(
        config,
        model,
        blocks,
        runtime,
        evaluate=(lambda m: held_out(m).perplexity) if eval_texts else None,
        hooks=hooks,
    )
    after = held_out(result.model) if eval_texts else None

    output_dir = config.output_dir.expanduser()
    artifacts: dict[str, str] = {}
    if result.checkpoints:
        artifacts["checkpoints"] = str(output_dir / "checkpoints")
    if result.log_path is not None:
        artifacts["train_log"] = str(result.log_path)
    if config.save_model:
        tokenizer.save_pretrained(output_dir / "model")
        artifacts["model"] = str(output_dir / "model")

    notes = [*runtime.notes, f"base model: {model_dir}"]
    notes.append(
        f"packing: {stream.tokens} tokens from {stream.documents} documents into {blocks.blocks} "
        f"blocks of {blocks.block_size}; tail remainder of {blocks.tail_tokens} tokens not used"
    )
    if stream.documents_dropped:
        notes.append(f"{stream.documents_dropped} documents left out by max_train_tokens")
    for event in result.spikes:
        notes.append(
            f"spike at window {event.window} (step {event.step}, {event.reason}): rolled back "
            f"to step {event.restored_step}, skipped windows {event.skipped_windows}"
        )
    if config.adaptation is not None:
        notes.append(
            f"tokenizer adaptation: rows < {config.adaptation.old_vocab_size} frozen, "
            f"stage {config.adaptation.stage}"
        )
    if before is not None and before.truncated:
        notes.append(f"perplexity on the first {before.tokens} held-out tokens (eval_max_tokens)")
    if config.inject_spike is not None:
        notes.append(f"test hook: loss of window {config.inject_spike.window} scaled")

    metrics: dict[str, float | int | None] = {
        "steps": result.steps,
        "tokens_seen": result.tokens_seen,
        "tokens_discarded": result.tokens_discarded,
        "epochs": result.epochs,
        "train_tokens": stream.tokens,
        "train_documents": stream.documents,
        "blocks": blocks.blocks,
        "tail_tokens_dropped": blocks.tail_tokens,
        "loss_first": result.losses[0] if result.losses else None,
        "loss_last": result.losses[-1] if result.losses else None,
        "perplexity_before": before.perplexity if before else None,
        "perplexity_after": after.perplexity if after else None,
        "eval_tokens": after.tokens if after else None,
        "eval_documents": after.documents if after else None,
        "spikes_detected": len(result.spikes),
        "rollbacks": sum(1 for e in result.spikes if e.restored_step is not None),
        "windows_skipped": len(result.skipped_windows),
    }
    timings = {
        "step_seconds": result.step_seconds,
        "tokens_per_second": result.tokens_per_second,
    }
    if after is not None:
        timings["eval_tokens_per_second"] = after.tokens_per_second
    return StageReport(
        stage="cpt",
        started=started_at,
        seconds=time.perf_counter() - started,
        metrics=metrics,
        timings=timings,
        artifacts=artifacts,
        notes=notes,
    )
