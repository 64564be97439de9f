"""The interface every LLM engine implements: chat messages in, JSON text out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


class LLMError(RuntimeError):
    """The engine could not produce an answer (unreachable, timed out, invalid output)."""


class Lazy(Generic[T]):
    """A model built on first use, once, even when several threads ask for it at the same time."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value


@dataclass
class EngineUsage:
    """Running totals of what an engine has done, as the engine itself counted it.

    Engines are shared across threads (parallel map calls), so updates take a lock.
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.seconds += seconds

    def snapshot(self) -> EngineUsage:
        with self._lock:
            return EngineUsage(self.calls, self.prompt_tokens, self.completion_tokens, self.seconds)

    def since(self, earlier: EngineUsage) -> EngineUsage:
        now = self.snapshot()
        return EngineUsage(
            now.calls - earlier.calls,
            now.prompt_tokens - earlier.prompt_tokens,
            now.completion_tokens - earlier.completion_tokens,
            now.seconds - earlier.seconds,
        )


class LLMEngine(Protocol):
    name: str
    usage: EngineUsage

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        task: str = "minutes",
    ) -> str:
        """Return text that should parse as JSON matching `schema`.

        `task` selects a LoRA adapter where the engine has one per task (summary, action items,
        topics).
        """
        ...

    def count_tokens(self, text: str) -> int: ...
