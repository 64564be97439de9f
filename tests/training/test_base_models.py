"""Packaged GGUF models as transformers checkpoints: same tokens and predictions as llama.cpp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.base_models import packaged_checkpoint

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return",
    "Москва — столица",
]


@pytest.fixture(scope="module")
def qwen_dir() -> Path:
    return packaged_checkpoint("qwen2.5-coder-0.5b-instruct")


def test_converted_checkpoint_agrees_with_llama_cpp_on_the_same_file(qwen_dir: Path) -> None:
    import torch
    from llama_cpp import Llama
    from transformers import AutoModelForCausalLM, AutoTokenizer

    stamp = (qwen_dir / "converted.json").read_text()
    gguf = stamp.split('"source": "')[1].split('"')[0]
    tokenizer = AutoTokenizer.from_pretrained(qwen_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(qwen_dir, local_files_only=True).eval()
    llm = Llama(model_path=gguf, n_ctx=256, n_threads=2, logits_all=True, verbose=False)
    for prompt in PROMPTS:
        ids = tokenizer.encode(prompt, add_special_tokens=False)
        assert ids == llm.tokenize(prompt.encode(), add_bos=False, special=False), prompt
        with torch.inference_mode():
            ours = model(torch.tensor([ids])).logits[0, -1].numpy()
        llm.reset()
        llm.eval(ids)
        theirs = np.asarray(llm.scores[llm.n_tokens - 1])[: ours.shape[0]]
        # Same weights, different arithmetic (fp32 dequantized vs Q4 kernels): same choice.
        assert int(ours.argmax()) == int(theirs.argmax()), prompt
        assert np.corrcoef(ours, theirs)[0, 1] > 0.97, prompt


def test_converted_checkpoint_is_plain_float_weights_that_save_again(qwen_dir: Path) -> None:
    import json

    from transformers import AutoConfig

    # A GGUF quantization note left in the config makes transformers refuse save_pretrained.
    assert "quantization_config" not in json.loads((qwen_dir / "config.json").read_text())
    config = AutoConfig.from_pretrained(qwen_dir, local_files_only=True)
    assert getattr(config, "quantization_config", None) is None


def test_second_call_reuses_the_conversion(qwen_dir: Path) -> None:
    before = (qwen_dir / "model.safetensors").stat().st_mtime_ns
    assert packaged_checkpoint("qwen2.5-coder-0.5b-instruct") == qwen_dir
    assert (qwen_dir / "model.safetensors").stat().st_mtime_ns == before


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"known: qwen2\.5-coder-0\.5b-instruct"):
        packaged_checkpoint("llama-7b")  # type: ignore[arg-type]
