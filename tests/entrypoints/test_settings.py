"""The settings root: every section from one environment, each field declared in one section."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import OFFLINE_ENV, SETTINGS_CONFIG, Section, set_offline_env
from entrypoints.settings import SECTION_NAMES, Settings, load

# One variable per section (and the shared ones the sections used to repeat), with what it reads as.
ENVIRONMENT = {
    "MINUTA_LOG_FORMAT": "json",
    "MINUTA_SENTRY_DSN": "https://key@sentry.test/1",
    "MINUTA_SENTRY_TRACES_SAMPLE_RATE": "0.25",
    "MINUTA_BROKER_URL": "amqp://guest:guest@rabbit.test:5672/",
    "MINUTA_PREFETCH": "7",
    "MINUTA_PORT": "8123",
    "MINUTA_BOT_CONCURRENCY": "9",
    "MINUTA_ASR_BEAM_SIZE": "3",
    "MINUTA_QDRANT_COLLECTION_PREFIX": "test_",
    "MINUTA_WORKER_CONCURRENCY": "5",
}


def _section_classes(root: Settings) -> dict[str, type[Section]]:
    return {name: type(section) for name, section in root.sections().items()}


def _own_fields(cls: type[Section]) -> set[str]:
    """The MINUTA_* fields of a section; a field holding a shared section (the ML and vector
    sections' `cache`) is a reference to it, not a declaration."""
    return {
        name
        for name, field in cls.model_fields.items()
        if not (isinstance(field.annotation, type) and issubclass(field.annotation, Section))
    }


def _all_subclasses(cls: type[Section]) -> set[type[Section]]:
    found: set[type[Section]] = set()
    sub: type[Section]
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("MINUTA_"):
            monkeypatch.delenv(name)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    # .env in the working folder is read too, by every section alike.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"MINUTA_CACHE_DIR={tmp_path / 'cache'}\n", encoding="utf-8")
    return tmp_path


def test_the_root_loads_every_section_from_one_environment(environment: Path) -> None:
    root = load()
    sections = root.sections()
    assert set(sections) == set(SECTION_NAMES)
    assert root.telemetry.log_format == "json"
    assert root.telemetry.sentry_dsn == ENVIRONMENT["MINUTA_SENTRY_DSN"]
    assert root.telemetry.sentry_traces_sample_rate == 0.25
    assert root.broker.broker_url == ENVIRONMENT["MINUTA_BROKER_URL"]
    assert root.broker.prefetch == 7
    assert root.api.port == 8123
    assert root.bots.bot_concurrency == 9
    assert root.ml.asr_beam_size == 3
    assert root.vectors.qdrant_collection_prefix == "test_"
    assert root.worker.worker_concurrency == 5
    # One cache section, the one the ML side and the vector store both hold.
    assert root.cache.cache_dir == environment / "cache"
    assert root.ml.cache is root.cache and root.vectors.cache is root.cache
    assert root.ml.cache_dir == environment / "cache"
    assert root.vectors.resolved_path == environment / "cache" / "qdrant"


def test_each_section_is_built_once_and_can_be_replaced(environment: Path) -> None:
    root = load()
    assert root.api is root.api and root.ml is root.ml
    root.api = root.api.model_copy(update={"port": 9000})
    assert root.api.port == 9000
    assert load().api.port == 8123  # another process's root reads the environment afresh


def test_a_section_not_asked_for_is_not_read(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker never validates the API's variables (nor a CLI command the services').
    monkeypatch.setenv("MINUTA_PORT", "tcp://10.0.0.1:8000")
    root = load()
    assert root.worker.worker_concurrency == 5
    assert "api" not in vars(root)


def test_no_field_is_declared_in_two_sections() -> None:
    classes = _section_classes(Settings())
    seen: dict[str, str] = {}
    for name, cls in classes.items():
        for field in _own_fields(cls):
            assert field not in seen, f"{field} is declared in both {seen[field]} and {name}"
            seen[field] = name
    # The shared fields each have one home.
    assert {f: seen[f] for f in ("broker_url", "sentry_dsn", "log_level", "cache_dir")} == {
        "broker_url": "broker",
        "sentry_dsn": "telemetry",
        "log_level": "telemetry",
        "cache_dir": "cache",
    }


def test_every_section_is_in_the_root_and_shares_one_configuration() -> None:
    classes = set(_section_classes(Settings()).values())
    assert classes == _all_subclasses(Section)
    for cls in classes:
        for key in ("env_prefix", "env_file", "extra"):
            assert cls.model_config.get(key) == SETTINGS_CONFIG.get(key), (cls, key)


def test_offline_variables_are_set_unless_already_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    set_offline_env()
    assert os.environ["HF_HUB_OFFLINE"] == "0"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["PYANNOTE_METRICS_ENABLED"] == "0"
    set_offline_env(force=True)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
