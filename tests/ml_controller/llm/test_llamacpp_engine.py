"""The in-process llama.cpp engine on the packaged Qwen2.5-Coder-1.5B GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ml_controller.llm.base import ChatMessage, LLMError
from ml_controller.llm.factory import make_engine
from ml_controller.llm.llamacpp_engine import LlamaCppEngine
from ml_controller.llm.openai_engine import OpenAICompatibleEngine
from tests.ml_controller.llm.engines import llm_settings, shared_llama_engine

VERDICT = {
    "type": "object",
    "properties": {
        "owner": {"type": "string", "enum": ["Anna", "Boris"]},
        "task": {"type": "string"},
        "day": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["owner", "task", "day"],
    "additionalProperties": False,
}


def test_answer_is_json_matching_the_schema() -> None:
    engine = shared_llama_engine()
    calls = engine.usage.calls
    answer = engine.complete_json(
        [
            ChatMessage("system", "Extract the task as JSON with owner, task and day."),
            ChatMessage("user", "Anna: Boris, please send the migration guide on Friday."),
        ],
        VERDICT,
        max_tokens=60,
    )
    data = json.loads(answer)
    jsonschema.validate(data, VERDICT)
    assert "guide" in data["task"].lower()
    assert engine.usage.calls == calls + 1
    assert engine.usage.completion_tokens > 0


def test_token_count_is_the_models_own() -> None:
    engine = shared_llama_engine()
    assert engine.count_tokens("") == 0
    english = engine.count_tokens("We release version two next Monday.")
    russian = engine.count_tokens("Мы выпускаем вторую версию в следующий понедельник.")
    assert 5 <= english <= 12
    # Qwen's vocabulary splits Cyrillic into more pieces than the 4-chars-per-token rule of thumb.
    assert russian > english


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    engine = LlamaCppEngine(llm_settings(llm_model_path=tmp_path / "absent.gguf"))
    with pytest.raises(LLMError, match=r"absent\.gguf"):
        engine.count_tokens("hello")


def test_missing_lora_adapter_is_a_clear_error(tmp_path: Path) -> None:
    engine = LlamaCppEngine(llm_settings(llm_lora_path=tmp_path / "adapter.gguf"))
    with pytest.raises(LLMError, match="LORA_PATH"):
        engine.count_tokens("hello")


def test_factory_follows_settings() -> None:
    assert make_engine(llm_settings(llm_engine="none")) is None
    assert isinstance(make_engine(llm_settings(llm_engine="llamacpp")), LlamaCppEngine)
    remote = make_engine(llm_settings(llm_engine="openai", llm_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(remote, OpenAICompatibleEngine)
    assert remote.url == "http://127.0.0.1:9"
    with pytest.raises(LLMError, match="MINUTA_LLM_BASE_URL"):
        make_engine(llm_settings(llm_engine="openai", llm_base_url=None))
