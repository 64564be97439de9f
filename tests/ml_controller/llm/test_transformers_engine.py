"""The transformers + peft engine on a tiny random-weight Qwen2 built here, with Whisper's real
byte-level tokenizer (from the packaged Whisper model) and a LoRA adapter made with peft.

A random model has no idea of JSON: that its answers still parse and validate is what proves the
constrained decoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from ml_controller.llm.base import ChatMessage, LLMError
from ml_controller.llm.factory import make_engine
from ml_controller.llm.transformers_engine import TransformersEngine, render_prompt, token_bytes
from ml_controller.minutes.schema import DraftSpec, draft_schema
from ml_controller.settings import MLSettings

WHISPER_TOKENIZER = Path.home() / ".cache/minuta/models/whisper-base-ct2/tokenizer.json"

VERDICT = {
    "type": "object",
    "properties": {
        "owner": {"type": "string", "enum": ["Анна", "Boris"]},
        "task": {"type": "string"},
        "day": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "hours": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
    },
    "required": ["owner", "task", "day", "hours", "tags"],
    "additionalProperties": False,
}

MESSAGES = [
    ChatMessage("system", "Extract the task as JSON."),
    ChatMessage("user", "Анна: Boris, please send the migration guide on Friday."),
]


@dataclass(frozen=True)
class TinyModel:
    base: Path
    adapter: Path
    tokenizer: PreTrainedTokenizerFast


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    if not WHISPER_TOKENIZER.is_file():
        pytest.skip(f"{WHISPER_TOKENIZER} is not assembled (run the model setup first)")
    root = tmp_path_factory.mktemp("tiny-llm")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(WHISPER_TOKENIZER), eos_token="<|endoftext|>"
    )
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = Qwen2ForCausalLM(config)
    base = root / "base"
    model.save_pretrained(base)
    tokenizer.save_pretrained(base)

    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        # peft starts B at zero (a no-op adapter); a trained adapter is not.
        for name, param in lora.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    adapter = root / "adapter"
    lora.save_pretrained(str(adapter))
    return TinyModel(base, adapter, tokenizer)


def settings(**changes: object) -> MLSettings:
    return MLSettings(llm_engine="transformers", **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def base_engine(tiny: TinyModel) -> TransformersEngine:
    return TransformersEngine(settings(llm_base_model_dir=tiny.base))


@pytest.fixture(scope="module")
def adapter_engine(tiny: TinyModel) -> TransformersEngine:
    return TransformersEngine(settings(llm_base_model_dir=tiny.base, llm_adapter_dir=tiny.adapter))


def test_random_model_answers_valid_json(tiny: TinyModel, base_engine: TransformersEngine) -> None:
    engine = base_engine
    calls = engine.usage.calls
    answer = engine.complete_json(MESSAGES, VERDICT, max_tokens=80)
    jsonschema.validate(json.loads(answer), VERDICT)
    assert engine.usage.calls == calls + 1
    assert 0 < engine.usage.completion_tokens <= 80
    assert engine.usage.prompt_tokens == len(render_prompt(tiny.tokenizer, MESSAGES))


def test_minutes_draft_fits_a_tight_budget(adapter_engine: TransformersEngine) -> None:
    """The meeting draft schema, with a budget only a little above its shortest answer."""
    schema = draft_schema(DraftSpec("ru", ("Анна", "Борис"), ("[00:00]", "[00:12]"), None))
    answer = adapter_engine.complete_json(MESSAGES, schema, max_tokens=150)
    jsonschema.validate(json.loads(answer), schema)
    with pytest.raises(LLMError, match="too few"):
        adapter_engine.complete_json(MESSAGES, schema, max_tokens=20)


def test_adapter_changes_the_model(
    tiny: TinyModel, base_engine: TransformersEngine, adapter_engine: TransformersEngine
) -> None:
    base, merged = base_engine, adapter_engine
    beside = TransformersEngine(
        settings(
            llm_base_model_dir=tiny.base, llm_adapter_dir=tiny.adapter, llm_merge_adapter=False
        )
    )
    plain = base.next_token_logits(MESSAGES)
    with_merged = merged.next_token_logits(MESSAGES)
    with_beside = beside.next_token_logits(MESSAGES)
    assert merged.loaded().merged and not beside.loaded().merged
    assert (with_merged - plain).abs().max() > 1e-3
    # Merging is only a speed-up: the same function as the adapter beside the base weights.
    torch.testing.assert_close(with_merged, with_beside, rtol=1e-4, atol=1e-4)


def test_missing_directories_are_clear_errors(tiny: TinyModel, tmp_path: Path) -> None:
    absent = tmp_path / "no-such-model"
    with pytest.raises(LLMError, match="no-such-model"):
        TransformersEngine(settings(llm_base_model_dir=absent)).count_tokens("hi")
    engine = TransformersEngine(
        settings(llm_base_model_dir=tiny.base, llm_adapter_dir=tmp_path / "no-such-adapter")
    )
    with pytest.raises(LLMError, match="no-such-adapter"):
        engine.count_tokens("hi")
    with pytest.raises(LLMError, match="BASE_MODEL_DIR"):
        TransformersEngine(settings()).count_tokens("hi")


def test_token_count_is_the_tokenizers(tiny: TinyModel, base_engine: TransformersEngine) -> None:
    engine = base_engine
    text = "Мы выпускаем вторую версию в понедельник. We ship on Monday."
    assert engine.count_tokens("") == 0
    assert engine.count_tokens(text) == len(tiny.tokenizer.encode(text, add_special_tokens=False))
    assert engine.count_tokens(text) > 10


def test_token_bytes_spell_the_text(tiny: TinyModel) -> None:
    """The byte view the constraint works on matches what the tokenizer encodes."""
    pieces = token_bytes(tiny.tokenizer)
    text = 'Анна: {"task": "отправить guide"} ✓'
    ids = tiny.tokenizer.encode(text, add_special_tokens=False)
    assert b"".join(pieces[i] or b"?" for i in ids) == text.encode("utf-8")
    assert pieces[tiny.tokenizer.eos_token_id] is None


def test_prompt_uses_the_chat_template_when_there_is_one(tiny: TinyModel) -> None:
    plain = str(tiny.tokenizer.decode(render_prompt(tiny.tokenizer, MESSAGES)))
    assert plain.startswith("System: Extract") and plain.endswith("Assistant:")
    templated = PreTrainedTokenizerFast(tokenizer_file=str(WHISPER_TOKENIZER))
    templated.chat_template = (
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}"
    )
    text = str(templated.decode(render_prompt(templated, MESSAGES)))
    assert text.startswith("<system>Extract") and text.endswith("<assistant>")


def test_factory_makes_the_transformers_engine(tiny: TinyModel) -> None:
    engine = make_engine(settings(llm_base_model_dir=tiny.base))
    assert isinstance(engine, TransformersEngine)
    assert engine.name == "transformers"


def test_token_bytes_of_a_sentencepiece_vocabulary() -> None:
    """XLM-R's unigram vocabulary (packaged e5 model) writes `▁` for spaces."""
    directory = Path.home() / ".cache/minuta/models/multilingual-e5-small-st"
    if not (directory / "tokenizer.json").is_file():
        pytest.skip(f"{directory} is not assembled (run the model setup first)")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(directory / "tokenizer.json"))
    pieces = token_bytes(tokenizer)
    text = 'Анна: {"task": "отправить guide"}'
    ids = tokenizer.encode(text, add_special_tokens=False)
    # The first word carries the prefix space that SentencePiece adds.
    assert b"".join(pieces[i] or b"?" for i in ids) == b" " + text.encode("utf-8")
