"""`run_cpt` end to end: a tiny Llama (spike guard, tokenizer adaptation) and packaged Gemma 3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from training.cpt.config import CPTConfig, SpikeGuardConfig
from training.cpt.loop import LoopHooks
from training.cpt.run import run_cpt
from training.cpt.spike_guard import SpikeEvent
from training.datasets.documents import TextSource, read_documents
from training.eval.perplexity import perplexity


def _tiny_config(
    tiny_lm: Path, sources: list[TextSource], out: Path, **fields: object
) -> CPTConfig:
    base = {
        "model_dir": tiny_lm,
        "output_dir": out,
        "train_sources": sources,
        "eval_fraction": 0.3,
        "eval_max_tokens": 1000,
        "block_size": 32,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 2,
        "learning_rate": 3e-3,
        "warmup_steps": 1,
    }
    return CPTConfig.model_validate({**base, **fields})


def _num(metrics: dict[str, float | int | None], name: str) -> float:
    value = metrics[name]
    assert value is not None, name
    return float(value)


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_injected_spike_rolls_back_to_the_checkpoint_and_skips_its_window(
    tiny_lm: Path, cpt_sources: list[TextSource], tmp_path: Path, data_dir: Path
) -> None:
    torch.manual_seed(0)
    # Held out: a meeting of the same kind as the English training meetings.
    held_out = TextSource(
        path=data_dir / "summarization" / "qmsum_train.jsonl", format="qmsum", max_documents=1
    )
    config = _tiny_config(
        tiny_lm,
        cpt_sources,
        tmp_path,
        eval_sources=[held_out],
        max_steps=10,
        checkpoint_every=3,
        keep_checkpoints=2,
        inject_spike={"window": 5, "loss_scale": 100.0},
    )
    seen: dict[str, object] = {}

    def before(event: SpikeEvent, model: torch.nn.Module) -> None:
        seen["before"] = _weights(model)

    def after(event: SpikeEvent, model: torch.nn.Module) -> None:
        assert event.checkpoint is not None
        seen["checkpoint"] = load_file(event.checkpoint / "model.safetensors")
        seen["after"] = _weights(model)
        seen["event"] = event

    report = run_cpt(config, LoopHooks(before_rollback=before, after_rollback=after))

    event = seen["event"]
    assert isinstance(event, SpikeEvent)
    assert (event.window, event.step, event.restored_step) == (5, 5, 3)
    assert event.threshold is not None and event.loss > event.threshold
    checkpoint, restored, spiked = seen["checkpoint"], seen["after"], seen["before"]
    assert isinstance(checkpoint, dict) and isinstance(restored, dict) and isinstance(spiked, dict)
    # The rollback undid two updates: the weights are the checkpoint's again, bit for bit.
    assert checkpoint.keys() == restored.keys()
    assert all(torch.equal(checkpoint[k], restored[k]) for k in checkpoint)
    assert not all(torch.equal(checkpoint[k], spiked[k]) for k in checkpoint)

    m = report.metrics
    assert (m["spikes_detected"], m["rollbacks"], m["windows_skipped"]) == (1, 1, 1)
    assert m["steps"] == 10 and m["tokens_seen"] == 10 * 4 * 32
    assert m["tokens_discarded"] == 3 * 4 * 32  # windows 3, 4 and the spiking 5
    # Training continued to the end without window 5: the kept steps read 0-4 and 6-10.
    windows: dict[int, int] = {}
    for line in (tmp_path / "train_log.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "window" in record and "step" in record and "event" not in record:
            windows[record["step"]] = record["window"]
    assert [windows[s] for s in range(1, 11)] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    # It also learned something: held-out perplexity went down, and the model reloads.
    assert _num(m, "perplexity_after") < _num(m, "perplexity_before")
    assert _num(m, "loss_last") < _num(m, "loss_first")
    assert 0 <= _num(m, "tail_tokens_dropped") < 32
    assert report.timings["tokens_per_second"] > 0
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "model", local_files_only=True)
    assert sum(p.numel() for p in reloaded.parameters()) > 0


@pytest.mark.parametrize("stage", ["embeddings", "all"])
def test_adaptation_keeps_old_vocabulary_rows_bit_identical(
    tiny_lm: Path, cpt_sources: list[TextSource], tmp_path: Path, stage: str
) -> None:
    base = AutoModelForCausalLM.from_pretrained(tiny_lm, local_files_only=True)
    old = base.config.vocab_size - 100
    config = _tiny_config(
        tiny_lm,
        cpt_sources,
        tmp_path,
        max_steps=3,
        eval_fraction=0.0,
        weight_decay=0.1,
        spike_guard={"enabled": False},
        adaptation={"old_vocab_size": old, "stage": stage},
    )
    report = run_cpt(config)
    assert report.metrics["steps"] == 3 and report.metrics["perplexity_after"] is None
    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "model", local_files_only=True)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        before, after = base.state_dict()[name], trained.state_dict()[name]
        assert torch.equal(before[:old], after[:old]), name
        assert not torch.equal(before[old:], after[old:]), name
    layer = "model.layers.0.mlp.up_proj.weight"
    moved = not torch.equal(base.state_dict()[layer], trained.state_dict()[layer])
    assert moved == (stage == "all")


def test_packaged_gemma_trains_a_few_steps(
    data_dir: Path, ru_transcript: Path, tmp_path: Path
) -> None:
    from training.base_models import packaged_checkpoint

    packaged_checkpoint("gemma-3-270m")  # converted once per machine, outside the timing
    qmsum = data_dir / "summarization" / "qmsum_train.jsonl"
    config = CPTConfig(
        packaged_model="gemma-3-270m",
        output_dir=tmp_path,
        train_sources=[
            TextSource(path=ru_transcript, format="transcript"),
            TextSource(path=qmsum, format="qmsum", max_documents=1),
        ],
        eval_sources=[TextSource(path=ru_transcript, format="transcript")],
        eval_max_tokens=48,
        max_train_tokens=512,
        block_size=32,
        micro_batch_size=1,
        gradient_accumulation_steps=1,
        max_steps=2,
        learning_rate=1e-5,
        spike_guard=SpikeGuardConfig(enabled=False),
    )
    report = run_cpt(config)
    m = report.metrics
    assert m["steps"] == 2 and m["tokens_seen"] == 64 and m["blocks"] == 16
    # A pretrained model reads Chekhov far better than chance over 262k tokens.
    assert 1 < _num(m, "perplexity_before") < 1000
    assert m["perplexity_after"] is not None and m["loss_first"] is not None
    assert not (tmp_path / "checkpoints").exists()
    # The saved checkpoint scores as the in-memory model did.
    again = perplexity(
        tmp_path / "model", [_transcript_text(ru_transcript)], block_size=32, max_tokens=48
    )
    assert again.perplexity == pytest.approx(m["perplexity_after"], rel=1e-4)


def _transcript_text(path: Path) -> str:
    (doc,) = read_documents([TextSource(path=path, format="transcript")])
    return doc.text
