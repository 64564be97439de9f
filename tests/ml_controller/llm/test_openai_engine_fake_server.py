"""Retries, timeouts and error messages of the OpenAI engine, against a real local HTTP server
that plays back scripted answers (503 then 200, a hang, ...). Not an LLM: hence `fake_server`."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ml_controller.llm.base import ChatMessage, LLMError
from ml_controller.llm.openai_engine import OpenAICompatibleEngine, estimate_tokens
from ml_controller.settings import MLSettings

SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}},
    "required": ["title"],
    "additionalProperties": False,
}
MESSAGES = [ChatMessage("user", "Title this meeting.")]


def completion(content: str = '{"title": "Release planning"}') -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7},
    }


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | str = field(default_factory=completion)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Script:
    replies: list[Reply]
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self, path: str, payload: dict[str, Any]) -> Reply:
        with self.lock:
            self.seen.append((path, payload))
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


def _handler(script: Script) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            payload = json.loads(self.rfile.read(length) or b"{}")
            reply = script.next(self.path, payload)
            if reply.delay:
                time.sleep(reply.delay)
            data = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            try:
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data.encode())))
                self.end_headers()
                self.wfile.write(data.encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as it should

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(*replies: Reply) -> tuple[str, Script]:
        script = Script(list(replies))
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", script

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def engine_for(url: str, **changes: Any) -> OpenAICompatibleEngine:
    base: dict[str, Any] = {
        "llm_engine": "openai",
        "llm_base_url": url,
        "llm_retry_base_delay": 0.05,
        "llm_max_retries": 3,
        "llm_timeout": 5.0,
        "llm_connect_timeout": 1.0,
        "llm_structured_output": "json_schema",
    }
    return OpenAICompatibleEngine(MLSettings(**(base | changes)))


def ask(engine: OpenAICompatibleEngine, task: str = "minutes") -> str:
    return engine.complete_json(MESSAGES, SCHEMA, max_tokens=32, task=task)


def test_503_then_200_is_retried_fake_server(serve: Any) -> None:
    url, script = serve(Reply(503, {"error": "loading"}), Reply(503, "busy"), Reply())
    engine = engine_for(url)
    assert json.loads(ask(engine)) == {"title": "Release planning"}
    assert len(script.seen) == 3
    assert engine.usage.calls == 1 and engine.usage.completion_tokens == 7


def test_429_waits_as_the_server_asks_fake_server(serve: Any) -> None:
    url, script = serve(Reply(429, "slow down", headers={"Retry-After": "0.4"}), Reply())
    began = time.monotonic()
    ask(engine_for(url))
    assert time.monotonic() - began >= 0.4
    assert len(script.seen) == 2


def test_persistent_5xx_gives_up_with_the_status_fake_server(serve: Any) -> None:
    url, script = serve(Reply(500, "CUDA out of memory"))
    with pytest.raises(LLMError, match=r"HTTP 500 after 3 attempts: CUDA out of memory"):
        ask(engine_for(url, llm_max_retries=2))
    assert len(script.seen) == 3


def test_4xx_is_not_retried_fake_server(serve: Any) -> None:
    url, script = serve(Reply(401, {"error": "bad key"}))
    with pytest.raises(LLMError, match=r"HTTP 401 \(check MINUTA_LLM_API_KEY\)"):
        ask(engine_for(url))
    assert len(script.seen) == 1


def test_a_hanging_server_times_out_fake_server(serve: Any) -> None:
    url, script = serve(Reply(delay=5.0))
    began = time.monotonic()
    with pytest.raises(LLMError, match=r"no answer within 0\.5 s"):
        ask(engine_for(url, llm_timeout=0.5))
    # A timed-out generation is not sent again: it would only load the server twice.
    assert time.monotonic() - began < 3.0
    assert len(script.seen) == 1


def test_nobody_listening_fake_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    with pytest.raises(LLMError, match=r"could not reach the LLM server .* after 2 attempts"):
        ask(engine_for(f"http://127.0.0.1:{port}", llm_max_retries=1))


def test_request_carries_schema_adapter_and_key_fake_server(serve: Any) -> None:
    url, script = serve(Reply())
    engine = engine_for(
        url,
        llm_api_key="secret-key",
        llm_model_name="base-7b",
        llm_task_models={"summary": "summary-lora"},
    )
    ask(engine, task="summary")
    ask(engine, task="action_items")
    (path, first), (_, second) = script.seen
    assert path == "/v1/chat/completions"
    assert first["model"] == "summary-lora" and second["model"] == "base-7b"
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["schema"] == SCHEMA
    assert first["messages"] == [{"role": "user", "content": "Title this meeting."}]
    assert first["max_tokens"] == 32


def test_vllm_structured_outputs_field_fake_server(serve: Any) -> None:
    url, script = serve(Reply())
    ask(engine_for(url, llm_structured_output="structured_outputs"))
    payload = script.seen[0][1]
    assert payload["structured_outputs"] == {"json": SCHEMA}
    assert "response_format" not in payload


# What llama-cpp-python's server answers to a json_schema response_format (seen on 0.3.36),
# and the 422 a plain FastAPI/pydantic server gives.
LLAMA_CPP_REJECTION = Reply(
    500,
    {
        "error": {
            "message": "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
            "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}",
            "type": "internal_server_error",
        }
    },
)
PYDANTIC_REJECTION = Reply(422, {"detail": [{"loc": ["body", "response_format", "type"]}]})


@pytest.mark.parametrize("rejection", [LLAMA_CPP_REJECTION, PYDANTIC_REJECTION])
def test_auto_style_falls_back_once_and_remembers_fake_server(serve: Any, rejection: Reply) -> None:
    url, script = serve(rejection, Reply())
    engine = engine_for(url, llm_structured_output="auto")
    ask(engine)
    ask(engine)
    styles = [payload["response_format"]["type"] for _, payload in script.seen]
    assert styles == ["json_schema", "json_object", "json_object"]
    assert script.seen[1][1]["response_format"]["schema"] == SCHEMA


def test_garbled_answers_are_errors_fake_server(serve: Any) -> None:
    url, _ = serve(Reply(body="<html>proxy error</html>"))
    with pytest.raises(LLMError, match="not JSON"):
        ask(engine_for(url))
    url, _ = serve(Reply(body={"choices": []}))
    with pytest.raises(LLMError, match="without a message"):
        ask(engine_for(url))


def test_token_count_uses_the_servers_tokenizer_fake_server(serve: Any) -> None:
    url, script = serve(Reply(body={"count": 3, "tokens": [1, 2, 3], "max_model_len": 8192}))
    engine = engine_for(url)
    assert engine.count_tokens("three tokens here") == 3
    assert script.seen[0] == ("/tokenize", {"model": "minuta-minutes", "prompt": "probe"})


def test_token_count_without_a_tokenizer_route_estimates_fake_server(serve: Any) -> None:
    url, script = serve(Reply(404, {"detail": "Not Found"}))
    engine = engine_for(url)
    text = "We release version two next Monday."
    assert engine.count_tokens(text) == estimate_tokens(text) == 9
    assert engine.count_tokens(text) == 9
    assert len(script.seen) == 2, "the missing routes are probed once"
    assert estimate_tokens("привет") == 3
