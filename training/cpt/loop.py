"""The CPT training loop on `accelerate`: packed blocks in, a trained model and its history out.

One optimizer step reads one data window (micro-batches × accumulation × processes blocks). Its
loss, averaged over processes so every rank decides alike, goes to the spike guard: a spike
rolls model, optimizer, scheduler and step back to the newest checkpoint and skips the window;
otherwise the step is applied. Under DeepSpeed the engine applies the update inside backward,
which is why the guard restores a checkpoint rather than just dropping the gradients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from training.cpt.checkpoints import CheckpointStore, TrainerState
from training.cpt.config import CPTConfig
from training.cpt.hardware import Runtime, make_accelerator
from training.cpt.optimizer import make_optimizer, parameter_setup
from training.cpt.packing import PackedBlocks
from training.cpt.schedule import WindowSchedule, warmup_cosine
from training.cpt.spike_guard import SpikeCheck, SpikeEvent, SpikeGuard, roll_back

if TYPE_CHECKING:
    from accelerate import Accelerator

# Called with the model as it is at that moment (prepared by accelerate).
SpikeHook = Callable[[SpikeEvent, torch.nn.Module], None]
EvalFn = Callable[[torch.nn.Module], float]


@dataclass
class LoopHooks:
    """Observation points, for tests and tooling; they must not change the model."""

    before_rollback: SpikeHook | None = None
    after_rollback: SpikeHook | None = None


@dataclass
class TrainResult:
    model: torch.nn.Module  # unwrapped, trained
    steps: int
    tokens_seen: int  # tokens behind the updates kept
    tokens_discarded: int  # tokens read by windows whose updates a rollback undid
    epochs: float
    losses: list[float]  # per kept step, in order
    spikes: list[SpikeEvent]
    skipped_windows: list[int]
    step_seconds: float  # mean wall time of a training step (not checkpoints or evals)
    tokens_per_second: float
    eval_history: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    log_path: Path | None = None


def _log(path: Path | None, record: dict[str, Any]) -> None:
    if path is not None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


def _micro_batches(
    blocks: PackedBlocks,
    window: torch.Tensor,
    config: CPTConfig,
    accelerator: Accelerator,
) -> list[dict[str, torch.Tensor]]:
    """This process's micro-batches of one window (micro-batch i, rank r: slot i × ranks + r)."""
    ranks, rank = accelerator.num_processes, accelerator.process_index
    size = config.micro_batch_size
    out = []
    for micro in range(config.gradient_accumulation_steps):
        slot = micro * ranks + rank
        rows = window[slot * size : (slot + 1) * size].numpy()
        ids = torch.from_numpy(blocks.input_ids[rows].astype("int64")).to(accelerator.device)
        batch = {"input_ids": ids, "labels": ids}
        if blocks.position_ids is not None:
            positions = blocks.position_ids[rows].astype("int64")
            batch["position_ids"] = torch.from_numpy(positions).to(accelerator.device)
        out.append(batch)
    return out


@dataclass
class _Progress:
    """What the loop accumulates beside the checkpointed state."""

    losses: list[float] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)
    eval_history: list[tuple[int, float]] = field(default_factory=list)
    discarded: int = 0


class _Loop:
    """One run: the prepared objects, the guard, and the step / rollback logic."""

    def __init__(
        self,
        config: CPTConfig,
        model: torch.nn.Module,
        blocks: PackedBlocks,
        runtime: Runtime,
        hooks: LoopHooks,
    ) -> None:
        self.config, self.blocks, self.runtime, self.hooks = config, blocks, runtime, hooks
        self.accelerator = make_accelerator(runtime, config)
        self.output_dir = config.output_dir.expanduser()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        main = self.accelerator.is_main_process
        self.log_path = self.output_dir / "train_log.jsonl" if main else None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

        pretrained: Any = model  # a transformers model
        if config.gradient_checkpointing:
            pretrained.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        if hasattr(pretrained, "config"):
            # The KV cache is for generation; in training it only costs memory.
            pretrained.config.use_cache = False
        self.setup = parameter_setup(model, config)
        optimizer = make_optimizer(self.setup.groups, config, cpu_offload=runtime.cpu_offload)

        ranks = self.accelerator.num_processes
        window_blocks = config.micro_batch_size * config.gradient_accumulation_steps * ranks
        self.schedule = WindowSchedule(blocks.blocks, window_blocks, config.seed)
        self.tokens_per_window = window_blocks * blocks.block_size
        self.total_steps = config.max_steps or self.schedule.steps_for(config.epochs)
        if config.inject_spike is not None and config.inject_spike.window >= self.total_steps:
            raise ValueError(
                f"inject_spike.window {config.inject_spike.window} is never read "
                f"(the run has {self.total_steps} steps)"
            )
        self.scheduler = warmup_cosine(
            optimizer, config.warmup_steps, self.total_steps, config.min_lr_ratio
        )
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        # Stepped by hand once per update: a prepared scheduler would step once per process.
        self.accelerator.register_for_checkpointing(self.scheduler)

        self.guard = SpikeGuard(config.spike_guard)
        self.store = CheckpointStore(self.output_dir / "checkpoints", config.keep_checkpoints)
        self.state = TrainerState()
        self.progress = _Progress()

    def window_loss(self, window: int) -> float:
        """Forward and backward over one window; its mean loss over all processes."""
        injection = self.config.inject_spike
        micro_losses = []
        rows = torch.from_numpy(self.schedule.window(window))
        for batch in _micro_batches(self.blocks, rows, self.config, self.accelerator):
            with self.accelerator.accumulate(self.model):
                loss = self.model(**batch).loss
                if injection is not None and window == injection.window:
                    loss = loss * injection.loss_scale
                self.accelerator.backward(loss)
                micro_losses.append(loss.detach().float())
        if not self.accelerator.sync_gradients:
            raise RuntimeError("gradient accumulation is out of step with the data windows")
        return float(self.accelerator.reduce(torch.stack(micro_losses).mean(), "mean"))

    def apply_update(self, window: int, loss: float, started: float) -> None:
        grad_norm = None
        if self.config.max_grad_norm is not None and self.runtime.deepspeed_config is None:
            # DeepSpeed clips inside its engine (gradient_clipping in its config).
            norm = self.accelerator.clip_grad_norm_(
                self.model.parameters(), self.config.max_grad_norm
            )
            grad_norm = float(norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.guard.accept(loss)
        state = self.state
        state.step += 1
        state.tokens_seen += self.tokens_per_window
        state.good_losses = self.guard.history()
        self.progress.losses.append(loss)
        self.progress.step_times.append(time.perf_counter() - started)
        lr = self.scheduler.get_last_lr()[0]
        record: dict[str, Any] = {"step": state.step, "window": window, "loss": loss, "lr": lr}
        record |= {"grad_norm": grad_norm, "tokens": state.tokens_seen}
        _log(self.log_path, {**record, "seconds": self.progress.step_times[-1]})

    def roll_back(self, window: int, check: SpikeCheck) -> SpikeEvent:
        self.optimizer.zero_grad(set_to_none=True)
        event = self.guard.record_spike(window, self.state.step, check)
        if self.hooks.before_rollback is not None:
            self.hooks.before_rollback(event, self.model)
        applied_since = self.state.step + 1  # the spiking window counts as read too
        self.state = roll_back(self.accelerator, self.store, self.guard, event)
        self.progress.discarded += (applied_since - self.state.step) * self.tokens_per_window
        del self.progress.losses[self.state.step :]
        _log(self.log_path, {"event": "rollback", **asdict(event)})
        if self.hooks.after_rollback is not None:
            self.hooks.after_rollback(event, self.model)
        return event

    def run(self, evaluate: EvalFn | None, progress: bool) -> None:
        config = self.config
        if config.spike_guard.enabled:
            # The first rollback target: a spike before the first periodic checkpoint has one too.
            self.store.save(self.accelerator, self.state)
        bar = tqdm(total=self.total_steps, desc="cpt", unit="step", disable=not progress)
        self.model.train()
        try:
            while self.state.step < self.total_steps:
                window = self.state.cursor
                self.state.cursor += 1
                if window in self.guard.skipped:
                    continue
                started = time.perf_counter()
                loss = self.window_loss(window)
                check = self.guard.check(loss)
                if check.is_spike:
                    event = self.roll_back(window, check)
                    bar.write(
                        f"loss spike at window {window} ({check.reason}): rolled back to step "
                        f"{self.state.step}, skipping windows {event.skipped_windows}"
                    )
                    bar.n = self.state.step
                    bar.refresh()
                    continue
                self.apply_update(window, loss, started)
                step = self.state.step
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                if evaluate is not None and config.eval_every and step % config.eval_every == 0:
                    score = evaluate(self.model)
                    self.progress.eval_history.append((step, score))
                    _log(self.log_path, {"step": step, "eval_perplexity": score})
                if (
                    config.spike_guard.enabled
                    and step % config.checkpoint_every == 0
                    and step < self.total_steps
                ):
                    self.store.save(self.accelerator, self.state)
        finally:
            bar.close()
            self.setup.remove_hooks()

    def result(self) -> TrainResult:
        times = self.progress.step_times
        mean_step = sum(times) / len(times) if times else 0.0
        return TrainResult(
            model=self.accelerator.unwrap_model(self.model),
            steps=self.state.step,
            tokens_seen=self.state.tokens_seen,
            tokens_discarded=self.progress.discarded,
            epochs=self.schedule.epochs_read(self.state.cursor),
            losses=self.progress.losses,
            spikes=list(self.guard.events),
            skipped_windows=sorted(self.guard.skipped),
            step_seconds=mean_step,
            tokens_per_second=self.tokens_per_window / mean_step if mean_step else 0.0,
            eval_history=self.progress.eval_history,
            checkpoints=self.store.saved(),
            log_path=self.log_path,
        )


def train(
    config: CPTConfig,
    model: torch.nn.Module,
    blocks: PackedBlocks,
    runtime: Runtime,
    *,
    evaluate: EvalFn | None = None,
    hooks: LoopHooks | None = None,
    progress: bool = True,
) -> TrainResult:
    """Trains `model` on `blocks` as `config` says; saves it to output_dir/model if asked."""
    torch.manual_seed(config.seed)
    loop = _Loop(config, model, blocks, runtime, hooks or LoopHooks())
    loop.run(evaluate, progress)
    loop.accelerator.wait_for_everyone()
    result = loop.result()
    if config.save_model:
        _save_model(loop.accelerator, loop.model, loop.output_dir / "model")
    loop.accelerator.free_memory()
    return result


def _save_model(accelerator: Accelerator, model: torch.nn.Module, folder: Path) -> None:
    state_dict = accelerator.get_state_dict(model)
    unwrapped: Any = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(
        folder,
        is_main_process=accelerator.is_main_process,
        save_function=accelerator.save,
        state_dict=state_dict,
    )
