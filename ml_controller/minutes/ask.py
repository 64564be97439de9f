"""One checked LLM call: a schema-valid answer, else one retry with the error, else salvage."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jsonschema
from jsonschema.exceptions import best_match
from pydantic import BaseModel, ValidationError

from ml_controller.llm.base import ChatMessage, LLMEngine
from ml_controller.minutes.salvage import is_cut_off, parse_lenient, salvage

M = TypeVar("M", bound=BaseModel)

# Tokens the retry adds to the prompt (an excerpt of the bad answer and the error); callers keep
# this much of the context free so the retry still fits.
RETRY_RESERVE = 192
_EXCERPT_CHARS = 240
# Chat-template tokens around each message (role markers, separators) and the answer's start.
_PER_MESSAGE = 8
_PRIMING = 16


def prompt_tokens(engine: LLMEngine, messages: list[ChatMessage]) -> int:
    """What `messages` take of the context, by the engine's own tokenizer."""
    return sum(engine.count_tokens(m.content) + _PER_MESSAGE for m in messages) + _PRIMING


def check(text: str, schema: dict[str, Any], model: type[M]) -> tuple[M | None, str]:
    """The parsed answer, or None and a one-line reason fit to show the model."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON ({exc.msg} at character {exc.pos})"
        if is_cut_off(text):
            reason += "; the answer was cut off before the JSON ended, so write less"
        return None, reason
    error = best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the top level"
        return None, f"at {where}: {error.message[:300]}"
    try:
        return model.model_validate(data), ""
    except ValidationError as exc:
        return None, str(exc.errors()[0]["msg"])


def _feedback(answer: str, reason: str, language: str) -> list[ChatMessage]:
    excerpt = answer if len(answer) <= _EXCERPT_CHARS else "…" + answer[-_EXCERPT_CHARS:]
    if language == "ru":
        ask = f"Этот ответ не подходит: {reason}. Ответь заново: только полный JSON-объект."
    else:
        ask = (
            f"That answer is not valid: {reason}. Answer again with the complete JSON object only."
        )
    return [ChatMessage("assistant", excerpt), ChatMessage("user", ask)]


def _salvaged(second: str, first: str, schema: dict[str, Any], model: type[M]) -> M:
    for text in (second, first):
        parsed = parse_lenient(text)
        if isinstance(parsed, dict):
            try:
                return model.model_validate(salvage(parsed, schema))
            except ValidationError:
                continue
    return model.model_validate(salvage({}, schema))


@dataclass
class Asker:
    """Checked calls to one engine in one language, counting the calls and what their answers
    needed. Map calls run in threads and count into the same totals."""

    engine: LLMEngine
    language: str
    calls: int = 0
    repairs: int = 0  # the first answer was invalid and the retry was valid
    salvaged: int = 0  # neither answer was valid; what could be kept was
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any],
        model: type[M],
        *,
        max_tokens: int,
        task: str,
    ) -> M:
        """Ask, validate, retry once with the reason fed back, then keep what can be kept.

        LLMError (engine unreachable, timed out) propagates: there is nothing to salvage then.
        """
        first = self.engine.complete_json(messages, schema, max_tokens=max_tokens, task=task)
        value, reason = check(first, schema, model)
        repaired = salvaged = False
        if value is None:
            retry = messages + _feedback(first, reason, self.language)
            second = self.engine.complete_json(retry, schema, max_tokens=max_tokens, task=task)
            value, _ = check(second, schema, model)
            repaired = value is not None
            if value is None:
                value, salvaged = _salvaged(second, first, schema, model), True
        with self._lock:
            self.calls += 1
            self.repairs += int(repaired)
            self.salvaged += int(salvaged)
        return value
