"""The OpenAI-compatible engine against a real server: llama-cpp-python's, on the packaged GGUF.

vLLM cannot run on this CPU-only machine; llama-cpp-python's server speaks the same chat
protocol and is the closest real server (see ../shared/INFRA.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.results import Segment
from ml_controller.llm.openai_engine import OpenAICompatibleEngine
from ml_controller.minutes.schema import TASK_FIELDS, check_minutes
from ml_controller.minutes.writer import write_minutes
from ml_controller.settings import MLSettings
from tests.ml_controller.llm.engines import llm_settings, packaged_gguf, shared_llama_engine
from tests.ml_controller.llm.llama_server import free_port, llama_server
from tests.ml_controller.minutes.meetings import Meeting, synthetic


def _threads() -> str:
    return str(llm_settings().llm_threads or llm_settings().threads)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    arguments = [
        "--model", str(packaged_gguf()),
        "--model_alias", "minuta-minutes",
        "--n_ctx", "2048", "--n_threads", _threads(), "--n_threads_batch", _threads(),
        "--verbose", "False", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    yield from llama_server(arguments, port, tmp_path_factory.mktemp("llama_server") / "server.log")


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
    port = free_port()
    # With a config file the server takes host and port from it, not from the command line.
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [model | {"model_alias": task} for task in TASK_FIELDS],
    }
    (folder / "models.json").write_text(json.dumps(config), encoding="utf-8")
    arguments = ["--config_file", str(folder / "models.json")]
    yield from llama_server(arguments, port, folder / "server.log")


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
