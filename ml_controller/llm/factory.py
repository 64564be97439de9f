"""Pick the LLM engine that settings ask for."""

from __future__ import annotations

from ml_controller.llm.base import LLMEngine
from ml_controller.settings import MLSettings


def make_engine(settings: MLSettings) -> LLMEngine | None:
    """None when minutes are switched off (`MINUTA_LLM_ENGINE=none`).

    Engines load their model on first use, so making one is cheap.
    """
    if settings.llm_engine == "none":
        return None
    if settings.llm_engine == "openai":
        from ml_controller.llm.openai_engine import OpenAICompatibleEngine

        return OpenAICompatibleEngine(settings)
    if settings.llm_engine == "transformers":
        from ml_controller.llm.transformers_engine import TransformersEngine

        return TransformersEngine(settings)
    from ml_controller.llm.llamacpp_engine import LlamaCppEngine

    return LlamaCppEngine(settings)
