"""llama.cpp in process: the CPU default, on the packaged Qwen2.5 GGUF or any GGUF from settings.

The answer is constrained by a grammar that llama-cpp-python builds from the JSON schema
(`response_format={"type": "json_object", "schema": ...}`), so it is always well-formed JSON.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_controller.llm.base import ChatMessage, EngineUsage, Lazy, LLMError
from ml_controller.settings import MLSettings

if TYPE_CHECKING:
    from llama_cpp import Llama


def model_path(settings: MLSettings) -> Path:
    """The GGUF to load: settings.llm_model_path, else the packaged Qwen2.5-Coder-1.5B-Instruct."""
    if settings.llm_model_path is not None:
        path = settings.llm_model_path.expanduser()
        if not path.is_file():
            raise LLMError(f"MINUTA_LLM_MODEL_PATH points to {path}, which is not a file")
        return path
    from ml_controller.models.registry import QWEN_1_5B_GGUF, ModelNotInstalledError, assemble

    try:
        return assemble(QWEN_1_5B_GGUF, settings.cache_dir) / QWEN_1_5B_GGUF.chunked.target
    except ModelNotInstalledError as exc:
        raise LLMError(str(exc)) from exc


class LlamaCppEngine:
    name = "llamacpp"

    def __init__(self, settings: MLSettings) -> None:
        self.settings = settings
        self.usage = EngineUsage()
        self._llama: Lazy[Llama] = Lazy(self._load)
        # One llama context cannot decode two prompts at once; parallel callers take turns.
        self._lock = threading.Lock()

    def _model(self) -> Llama:
        return self._llama.get()

    def _load(self) -> Llama:
        from llama_cpp import Llama

        settings = self.settings
        lora = settings.llm_lora_path
        if lora is not None and not lora.expanduser().is_file():
            raise LLMError(f"MINUTA_LLM_LORA_PATH points to {lora}, which is not a file")
        path = model_path(settings)
        threads = settings.llm_threads or settings.threads
        try:
            return Llama(
                model_path=str(path),
                n_ctx=settings.llm_context,
                n_threads=threads,
                n_threads_batch=threads,
                lora_path=str(lora.expanduser()) if lora is not None else None,
                lora_scale=settings.llm_lora_scale,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise LLMError(f"llama.cpp could not load {path}: {exc}") from exc

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        task: str = "minutes",
    ) -> str:
        # One loaded model serves every task; a per-task adapter needs the OpenAI engine (vLLM).
        del task
        llama = self._model()
        with self._lock:
            began = time.perf_counter()
            try:
                response: Any = llama.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in messages],  # type: ignore[misc]
                    response_format={"type": "json_object", "schema": schema},
                    max_tokens=max_tokens,
                    temperature=self.settings.llm_temperature,
                    seed=self.settings.seed,
                )
            except ValueError as exc:
                # llama-cpp-python raises ValueError when prompt + answer exceed n_ctx.
                raise LLMError(f"llama.cpp rejected the request: {exc}") from exc
            elapsed = time.perf_counter() - began
        usage = response.get("usage") or {}
        self.usage.add(
            int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)), elapsed
        )
        content = response["choices"][0]["message"].get("content")
        if not content:
            raise LLMError("llama.cpp returned an empty answer")
        return str(content)

    def count_tokens(self, text: str) -> int:
        return len(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=False))
