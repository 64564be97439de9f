"""The engine for an OpenAI-compatible chat server: vLLM with LoRA adapters in production.

Every adapter vLLM serves is a model name, so a task picks its adapter through
`llm_task_models`. Transient failures (connection errors, 429, 5xx) are retried with exponential
backoff; other 4xx answers and read timeouts are not, since repeating them cannot help and a
timed-out generation would only tie up the server again.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ml_controller.llm.base import ChatMessage, EngineUsage, LLMError
from ml_controller.llm.structured_output import Style, rejects_style, schema_fields
from ml_controller.settings import MLSettings

_CHAT = "/v1/chat/completions"
# vLLM's tokenizer route, then llama-cpp-python's; a server with neither gets an estimate.
_TOKENIZE_ROUTES = (("/tokenize", "prompt"), ("/extras/tokenize/count", "input"))
_MAX_RETRY_AFTER = 60.0


class _Transient(Exception):
    """An answer worth asking again for: 429 or 5xx."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def root_url(base_url: str) -> str:
    """Accept both `http://host:8000` and the OpenAI-style `http://host:8000/v1`."""
    root = base_url.strip().rstrip("/")
    return root.removesuffix("/v1")


def estimate_tokens(text: str) -> int:
    """About 4 characters per token for Latin script; other scripts split into more tokens."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return math.ceil(ascii_chars / 4 + (len(text) - ascii_chars) / 2)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, _Transient):
        return True
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
        return False
    return isinstance(exc, httpx.TransportError)


def _short(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:500] + ("…" if len(text) > 500 else "")


class OpenAICompatibleEngine:
    name = "openai"

    def __init__(self, settings: MLSettings, client: httpx.Client | None = None) -> None:
        if not settings.llm_base_url:
            raise LLMError(
                "llm_engine is 'openai' but MINUTA_LLM_BASE_URL is not set "
                "(e.g. http://vllm:8000/v1)"
            )
        self.settings = settings
        self.usage = EngineUsage()
        self.url = root_url(settings.llm_base_url)
        self._client = client or httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(settings.llm_timeout, connect=settings.llm_connect_timeout),
            headers={"Authorization": f"Bearer {settings.llm_api_key}"},
        )
        self._slots = threading.BoundedSemaphore(max(1, settings.llm_concurrency))
        self._style: Style | None = (
            None if settings.llm_structured_output == "auto" else settings.llm_structured_output
        )
        self._tokenize_route: tuple[str, str] | None = None
        self._tokenize_probed = False
        # Answers per served model as the server named it: which adapter wrote what.
        self.answers_by_model: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def model_for(self, task: str) -> str:
        return self.settings.llm_task_models.get(task, self.settings.llm_model_name)

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        task: str = "minutes",
    ) -> str:
        body: dict[str, Any] = {
            "model": self.model_for(task),
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": self.settings.llm_temperature,
        }
        with self._slots:
            began = time.perf_counter()
            data = self._chat(body, schema, task)
            elapsed = time.perf_counter() - began
        with self._count_lock:
            self.answers_by_model[str(data.get("model") or body["model"])] += 1
        usage = data.get("usage") or {}
        self.usage.add(
            int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), elapsed
        )
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"LLM server at {self.url} sent an answer without a message") from exc
        if not content:
            raise LLMError(f"LLM server at {self.url} sent an empty answer")
        return str(content)

    def _chat(self, body: dict[str, Any], schema: dict[str, Any], task: str) -> dict[str, Any]:
        style: Style = self._style or "json_schema"
        probing = self._style is None

        def rejected(response: httpx.Response) -> bool:
            return probing and rejects_style(response.status_code, response.text)

        response = self._post(_CHAT, body | schema_fields(style, schema, task), final=rejected)
        if response.status_code >= 400 and rejected(response):
            # llama-cpp-python's server: same schema, its own response_format shape.
            style = "json_object"
            response = self._post(_CHAT, body | schema_fields(style, schema, task))
        if response.status_code >= 400:
            raise LLMError(self._refusal(response, body["model"]))
        if self._style is None:
            self._style = style
        try:
            data = response.json()
        except json.JSONDecodeError as exc:
            raise LLMError(f"LLM server at {self.url} sent something that is not JSON") from exc
        if not isinstance(data, dict):
            raise LLMError(
                f"LLM server at {self.url} sent an unexpected answer: {_short(response)}"
            )
        return data

    def _refusal(self, response: httpx.Response, model: str) -> str:
        status = response.status_code
        hint = ""
        if status in (401, 403):
            hint = " (check MINUTA_LLM_API_KEY)"
        elif status == 404:
            hint = f" (check MINUTA_LLM_BASE_URL and that the server serves model {model!r})"
        return (
            f"LLM server at {self.url} refused the request: HTTP {status}{hint}: {_short(response)}"
        )

    def _post(
        self,
        path: str,
        payload: dict[str, Any],
        final: Callable[[httpx.Response], bool] | None = None,
    ) -> httpx.Response:
        """POST with retries on transient failures; 4xx answers come back to the caller, and so
        does any answer `final` says asking again cannot change."""
        attempts = self.settings.llm_max_retries + 1
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._client.post(path, json=payload)
                    busy = response.status_code == 429 or response.status_code >= 500
                    if busy and not (final is not None and final(response)):
                        raise _Transient(response)
                    return response
        except _Transient as exc:
            raise LLMError(
                f"LLM server at {self.url} still answered HTTP {exc.response.status_code} after "
                f"{attempts} attempts: {_short(exc.response)}"
            ) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout):
            raise LLMError(
                f"LLM server at {self.url} sent no answer within {self.settings.llm_timeout:g} s "
                "(MINUTA_LLM_TIMEOUT)"
            ) from None
        except httpx.TransportError as exc:
            raise LLMError(
                f"could not reach the LLM server at {self.url} after {attempts} attempts: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        base = self.settings.llm_retry_base_delay
        delay = min(base * 2 ** (state.attempt_number - 1), 30.0)
        # A busy server may say when to come back; honour it within reason.
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _Transient):
            retry_after = exc.response.headers.get("Retry-After", "")
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), _MAX_RETRY_AFTER))
        return delay

    def count_tokens(self, text: str) -> int:
        route = self._token_route()
        if route is None:
            return estimate_tokens(text)
        path, field = route
        try:
            response = self._client.post(
                path, json={"model": self.settings.llm_model_name, field: text}
            )
            if response.status_code == 200:
                return int(response.json()["count"])
        except (httpx.HTTPError, KeyError, ValueError, TypeError):
            pass
        return estimate_tokens(text)

    def _token_route(self) -> tuple[str, str] | None:
        if self._tokenize_probed:
            return self._tokenize_route
        for path, field in _TOKENIZE_ROUTES:
            try:
                response = self._client.post(
                    path, json={"model": self.settings.llm_model_name, field: "probe"}
                )
            except httpx.HTTPError:
                # Unreachable now: estimate this time and probe again on the next call.
                return None
            if response.status_code == 200:
                self._tokenize_route = (path, field)
                break
        self._tokenize_probed = True
        return self._tokenize_route
