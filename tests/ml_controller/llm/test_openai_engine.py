"""The OpenAI-compatible engine against a real server: llama-cpp-python's, on the packaged GGUF.

vLLM cannot run on this CPU-only machine; llama-cpp-python's server speaks the same chat
protocol and is the closest real server (see ../shared/INFRA.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ml_controller.llm.openai_engine import OpenAICompatibleEngine
from ml_controller.minutes.schema import TASK_FIELDS, check_minutes
from ml_controller.minutes.writer import write_minutes
from ml_controller.settings import MLSettings
from ml_controller.types import Segment
from tests.ml_controller.llm.engines import llm_settings, packaged_gguf, shared_llama_engine
from tests.ml_controller.minutes.meetings import Meeting, synthetic


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _threads() -> str:
    return str(llm_settings().llm_threads or llm_settings().threads)


def _serve(arguments: list[str], port: int, log_path: Path) -> Iterator[str]:
    """Run llama_cpp.server with `arguments` (which make it listen on `port`); yield its /v1 URL."""
    command = [sys.executable, "-m", "llama_cpp.server", *arguments]
    url = f"http://127.0.0.1:{port}"
    # A file, not a pipe: the server logs more than a pipe buffer holds and would block.
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"HF_HUB_OFFLINE": "1"},
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {tail}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start within 180 s; log: {log_path}")
            time.sleep(0.5)
        yield url + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    arguments = [
        "--model", str(packaged_gguf()),
        "--model_alias", "minuta-minutes",
        "--n_ctx", "2048", "--n_threads", _threads(), "--n_threads_batch", _threads(),
        "--verbose", "False", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    yield from _serve(arguments, port, tmp_path_factory.mktemp("llama_server") / "server.log")


@pytest.fixture(scope="module")
def per_task_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server with a model per task, as vLLM serves one LoRA adapter per task.

    llama-cpp-python serves several models from a config file and swaps them per request; here
    all three are the packaged GGUF under the adapters' names.
    """
    folder = tmp_path_factory.mktemp("llama_server_tasks")
    model = {
        "model": str(packaged_gguf()),
        "n_ctx": 2048,
        "n_threads": int(_threads()),
        "n_threads_batch": int(_threads()),
        "verbose": False,
    }
    port = _free_port()
    # With a config file the server takes host and port from it, not from the command line.
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [model | {"model_alias": task} for task in TASK_FIELDS],
    }
    (folder / "models.json").write_text(json.dumps(config), encoding="utf-8")
    arguments = ["--config_file", str(folder / "models.json")]
    yield from _serve(arguments, port, folder / "server.log")


def _price_talk(data_dir: Path) -> tuple[Meeting, list[Segment]]:
    """The price discussion (28 s–128 s) in full: long enough to be a meeting, short enough
    for a quick call."""
    meeting = synthetic(data_dir, "synth_en_meeting")
    return meeting, [s for s in meeting.segments if 28 <= s.start < 128]


def _client_settings(url: str, **changes: Any) -> MLSettings:
    return llm_settings(
        llm_engine="openai",
        llm_base_url=url,
        llm_context=2048,
        llm_max_tokens=400,
        llm_timeout=600,
        **changes,
    )


def test_minutes_from_a_real_openai_compatible_server(server_url: str, data_dir: Path) -> None:
    meeting, lines = _price_talk(data_dir)
    settings = _client_settings(server_url)
    engine = OpenAICompatibleEngine(settings)
    try:
        outcome = write_minutes(
            lines, [], meeting.speakers, "en", meeting.duration, engine, settings
        )
        # "auto" asked with OpenAI's json_schema first; this server takes json_object + schema.
        assert engine._style == "json_object"
        assert engine._token_route() == ("/extras/tokenize/count", "input")
        sample = "Production cost's at twelve fifty, so half of the selling price is building it."
        assert engine.count_tokens(sample) == shared_llama_engine().count_tokens(sample)
    finally:
        engine.close()
    minutes = outcome.minutes
    check_minutes(minutes)
    assert outcome.mode == "single" and outcome.salvaged == 0
    assert outcome.prompt_tokens > 500 and outcome.completion_tokens > 20
    assert len(minutes.summary.split()) >= 5
    assert minutes.topics and minutes.topics[0].start <= lines[0].start
    speakers = {s.id for s in meeting.speakers}
    for item in minutes.action_items:
        assert item.owner in speakers
        assert lines[0].start <= item.evidence.start <= item.evidence.end <= lines[-1].end


def test_each_task_goes_to_its_own_model_on_a_real_server(
    per_task_server_url: str, data_dir: Path
) -> None:
    meeting, lines = _price_talk(data_dir)
    settings = _client_settings(
        per_task_server_url,
        llm_split_tasks=True,
        llm_task_models={task: task for task in TASK_FIELDS},
    )
    engine = OpenAICompatibleEngine(settings)
    try:
        outcome = write_minutes(
            lines, [], meeting.speakers, "en", meeting.duration, engine, settings
        )
    finally:
        engine.close()
    # Every task's answer came from the model of that task, and no call used the default.
    assert set(engine.answers_by_model) == set(TASK_FIELDS)
    assert all(n >= 1 for n in engine.answers_by_model.values())
    minutes = outcome.minutes
    check_minutes(minutes)
    assert outcome.mode == "single" and outcome.salvaged == 0
    assert minutes.title and len(minutes.summary.split()) >= 5
    assert minutes.topics
    speakers = {s.id for s in meeting.speakers}
    assert all(item.owner in speakers for item in minutes.action_items)
