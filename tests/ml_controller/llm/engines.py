"""One in-process llama.cpp engine on the packaged GGUF, shared by every test in the session.

Loading twice would double the RAM and the start-up time on a 2-core machine, and pytest fixtures
in two test folders cannot share one instance, so the engine is a process-wide singleton.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ml_controller.llm.llamacpp_engine import LlamaCppEngine, model_path
from ml_controller.settings import MLSettings

# Room for the longest single-call transcript in the tests (~1.5k tokens) plus the answer.
TEST_CONTEXT = 4096


def llm_settings(**changes: object) -> MLSettings:
    """Settings for the LLM tests; MINUTA_* variables still apply (e.g. MINUTA_LLM_THREADS)."""
    base: dict[str, object] = {"llm_context": TEST_CONTEXT, "llm_max_tokens": 640}
    return MLSettings(**(base | changes))  # type: ignore[arg-type]


@cache
def shared_llama_engine() -> LlamaCppEngine:
    return LlamaCppEngine(llm_settings())


def packaged_gguf() -> Path:
    return model_path(llm_settings())
