"""Sequence-to-sequence fine-tuning of a transformers Whisper on manifest rows.

A plain loop rather than a Trainer: one place to time each optimizer step and count label tokens,
and the same code runs a tiny model on a CPU and large-v3 on a GPU (bf16 autocast, fp32 weights).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm
from transformers import WhisperForConditionalGeneration, get_linear_schedule_with_warmup

from training.asr.checkpoint import load_feature_extractor, load_tokenizer, save_checkpoint
from training.asr.config import ASRTrainConfig
from training.asr.data import ManifestDataset, WhisperBatch, collate
from training.asr.manifest import ManifestRow

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class FinetuneResult:
    hf_dir: Path
    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    label_tokens: int = 0
    examples: int = 0
    trainable_parameters: int = 0

    @property
    def tokens_per_second(self) -> float:
        total = sum(self.step_seconds)
        return self.label_tokens / total if total > 0 else 0.0


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was asked for but torch sees no GPU; use device: cpu")
    return torch.device(name)


def load_model(model_dir: Path) -> WhisperForConditionalGeneration:
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: no config.json; base_model must be a local transformers Whisper "
            "checkpoint (or a CTranslate2 directory, which run_asr_train converts back first)"
        )
    model: WhisperForConditionalGeneration = WhisperForConditionalGeneration.from_pretrained(
        str(model_dir), local_files_only=True, dtype=torch.float32
    )
    return model


def _batches(loader: DataLoader[WhisperBatch]) -> Iterator[WhisperBatch]:
    while True:
        yield from loader


def finetune_whisper(
    rows: list[ManifestRow], base_dir: Path, config: ASRTrainConfig, out_dir: Path
) -> FinetuneResult:
    """Train `config.max_steps` optimizer steps; the result is saved to `out_dir`."""
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.threads)
    tokenizer = load_tokenizer(config.base_model)
    model = load_model(config.base_model)
    features = load_feature_extractor(config.base_model, model.config.num_mel_bins)
    # A fine-tuned model is asked with explicit language/task tokens; stale forced ids conflict.
    model.config.forced_decoder_ids = None
    if config.freeze_encoder:
        model.freeze_encoder()
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    # transformers types `to` as a dtype/device wrapper that mypy cannot follow.
    torch.nn.Module.to(model, device)
    model.train()

    dataset = ManifestDataset(
        rows,
        base_dir,
        features,
        tokenizer,
        task=config.task,
        language=config.language,
        max_label_tokens=config.max_label_tokens,
        cache_dir=out_dir.parent / "clips",
    )
    loader: DataLoader[WhisperBatch] = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),
        collate_fn=partial(collate, pad_id=tokenizer.pad_token_id),
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.max_steps)
    autocast_dtype = _DTYPES[config.dtype]
    use_autocast = autocast_dtype != torch.float32
    scaler = torch.amp.GradScaler(device.type, enabled=config.dtype == "float16")

    result = FinetuneResult(
        hf_dir=out_dir,
        examples=len(dataset),
        trainable_parameters=sum(p.numel() for p in trainable),
    )
    batches = _batches(loader)
    for _ in tqdm(range(config.max_steps), desc="asr fine-tune", unit="step"):
        began = time.perf_counter()
        step_loss = 0.0
        for _ in range(config.grad_accum):
            batch = next(batches).to(device, torch.float32)
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=use_autocast):
                out = model(
                    input_features=batch.input_features,
                    decoder_input_ids=batch.decoder_input_ids,
                    labels=batch.labels,
                )
            loss = out.loss / config.grad_accum
            scaler.scale(loss).backward()
            step_loss += float(loss.detach())
            result.label_tokens += batch.label_tokens
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        result.losses.append(step_loss)
        result.step_seconds.append(time.perf_counter() - began)
    model.eval()
    torch.nn.Module.to(model, "cpu")
    if config.gradient_checkpointing:
        model.config.use_cache = True
    save_checkpoint(model, tokenizer, features, out_dir)
    return result
