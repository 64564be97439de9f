"""The training loop: the transformers Trainer over a peft model, timed step by step.

The Trainer is what makes one loop serve both machines: on this CPU it runs plain float32
steps; on GPUs the same call takes bf16, gradient checkpointing and a DeepSpeed config
(`train.deepspeed_config`, passed through untouched) under `torchrun` or the `deepspeed`
launcher. Dev loss is measured before and after training on held-out meetings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.datasets.chat_tokens import TokenizedExample, collate
from training.sft.config import TrainSettings

if TYPE_CHECKING:
    from transformers import TrainingArguments


@dataclass
class TrainResult:
    steps: int
    losses: list[float]  # per logged step
    step_seconds: list[float]
    tokens_seen: int  # prompt + answer tokens, padding excluded
    dev_loss_before: float | None
    dev_loss_after: float | None
    seconds: float
    # False on every process but the first of a multi-GPU run: only the first saves and reports.
    is_main: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def mean_step_seconds(self) -> float:
        return sum(self.step_seconds) / len(self.step_seconds) if self.step_seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        total = sum(self.step_seconds)
        return self.tokens_seen / total if total > 0 else 0.0


class _Examples:
    """A list of tokenized examples as the map-style dataset the Trainer expects."""

    def __init__(self, items: list[TokenizedExample]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> TokenizedExample:
        return self.items[index]


def training_arguments(settings: TrainSettings, out_dir: Path) -> TrainingArguments:
    """Made before the model is loaded, as DeepSpeed ZeRO-3 needs."""
    import torch
    from transformers import TrainingArguments

    deepspeed = None
    if settings.deepspeed_config is not None:
        if not settings.deepspeed_config.is_file():
            raise FileNotFoundError(
                f"train.deepspeed_config {settings.deepspeed_config} does not exist"
            )
        deepspeed = str(settings.deepspeed_config)
    return TrainingArguments(
        output_dir=str(out_dir / "trainer"),
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup_steps,
        weight_decay=settings.weight_decay,
        logging_steps=settings.logging_steps,
        # The adapter is saved once at the end by the stage; no intermediate checkpoints.
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=settings.seed,
        bf16=settings.dtype == "bfloat16",
        fp16=settings.dtype == "float16",
        gradient_checkpointing=settings.gradient_checkpointing,
        deepspeed=deepspeed,
        # Our own examples, not a datasets.Dataset: keep every field for the collator.
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=False,
    )


def _timer() -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time of every optimizer step, and the loss the Trainer logs for it."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.losses: list[float] = []
            self._began = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self._began = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.seconds.append(time.perf_counter() - self._began)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    return StepTimer()


def train_lora(
    model: Any,
    pad_id: int,
    train: list[TokenizedExample],
    dev: list[TokenizedExample],
    args: TrainingArguments,
) -> TrainResult:
    """Trains the peft `model` in place for `args.max_steps` optimizer steps."""
    from transformers import Trainer

    if not train:
        raise ValueError("no training examples: lower examples.min_words or raise max_tokens")
    began = time.perf_counter()
    timer = _timer()
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=lambda batch: collate(batch, pad_id),
        train_dataset=_Examples(train),
        eval_dataset=_Examples(dev) if dev else None,
        callbacks=[timer],
    )
    before = trainer.evaluate()["eval_loss"] if dev else None
    trainer.train()
    after = trainer.evaluate()["eval_loss"] if dev else None
    return TrainResult(
        steps=trainer.state.global_step,
        losses=timer.losses,
        step_seconds=timer.seconds,
        tokens_seen=int(trainer.state.num_input_tokens_seen),
        dev_loss_before=None if before is None else float(before),
        dev_loss_after=None if after is None else float(after),
        seconds=time.perf_counter() - began,
        is_main=trainer.is_world_process_zero(),
    )
