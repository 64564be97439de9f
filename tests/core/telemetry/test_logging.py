"""Structured logs: the JSON shape, the job's ids across tasks and threads, and scrubbing."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from core.telemetry.logging import configure_logging, current_context, log_context
from ml_controller.worker.runner import run_in_thread

TRANSCRIPT = "Alice said the merger closes on Friday and nobody may know"
SIGNATURE = "c0ffee1234deadbeef"
API_KEY = "mk_" + "Q" * 20 + "secretpart"
PRESIGNED = (
    "http://127.0.0.1:8333/minuta/recordings/abc.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential=AKIAEXAMPLE%2F20261123&X-Amz-Signature={SIGNATURE}"
)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """configure_logging replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def capture(service: str, fmt: str, root: logging.Logger) -> io.StringIO:
    handler = configure_logging(service, fmt, "DEBUG")  # type: ignore[arg-type]
    assert root.handlers == [handler]
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_service_and_the_jobs_ids(root_logger: logging.Logger) -> None:
    stream = capture("worker", "json", root_logger)
    job_id, tenant_id, meeting_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    log = logging.getLogger("minuta.test")
    log.info("outside")
    with log_context(job_id=job_id, tenant_id=tenant_id, meeting_id=meeting_id):
        log.warning("job %s started", job_id)
        with log_context(meeting_id="other"):
            log.info("nested")
        log.info("back")
    log.error("after")

    outside, started, nested, back, after = lines(stream)
    assert set(outside) == {"ts", "level", "logger", "message", "service"}
    assert outside["service"] == "worker" and outside["logger"] == "minuta.test"
    assert outside["ts"].endswith("+00:00") and "T" in outside["ts"]
    assert started["level"] == "WARNING"
    assert started["message"] == f"job {job_id} started"
    assert (started["job_id"], started["tenant_id"], started["meeting_id"]) == (
        str(job_id),
        str(tenant_id),
        str(meeting_id),
    )
    assert nested["meeting_id"] == "other" and nested["job_id"] == str(job_id)
    assert back["meeting_id"] == str(meeting_id)
    assert "job_id" not in after and current_context() == {}


def test_concurrent_tasks_and_their_threads_keep_their_own_ids(
    root_logger: logging.Logger,
) -> None:
    stream = capture("worker", "json", root_logger)
    log = logging.getLogger("minuta.test")

    async def job(name: str) -> None:
        with log_context(job_id=name, tenant_id=f"tenant-{name}"):
            await asyncio.sleep(0.01)
            log.info("in task %s", name)
            # The worker's pipeline thread: the context is copied into it.
            await run_in_thread(lambda: log.info("in thread %s", name), f"test-{name}")
            await asyncio.sleep(0.01)
            log.info("again in task %s", name)

    async def main() -> None:
        await asyncio.gather(*(job(name) for name in ("a", "b", "c")))

    asyncio.run(main())
    records = [r for r in lines(stream) if r["logger"] == "minuta.test"]
    assert len(records) == 9
    for record in records:
        name = record["message"].split()[-1]
        assert record["job_id"] == name, record
        assert record["tenant_id"] == f"tenant-{name}"


def test_secrets_and_recording_content_are_scrubbed(root_logger: logging.Logger) -> None:
    stream = capture("api", "json", root_logger)
    log = logging.getLogger("minuta.test")

    class Result(BaseModel):
        result: dict[str, str]

    with pytest.raises(ValidationError) as rejected:
        Result.model_validate({"result": TRANSCRIPT})
    log.info("fetching %s", PRESIGNED)
    # What uvicorn's access log prints for a local signed URL: the path only.
    log.info(
        '127.0.0.1:5000 - "GET /files/rec.wav?expires=1763900000&signature=%s HTTP/1.1" 200',
        SIGNATURE,
    )
    log.warning("refused key %s (Authorization: Bearer %s)", API_KEY, API_KEY)
    log.error("bad result: %s", rejected.value)
    try:
        raise RuntimeError(f"download of {PRESIGNED} failed")
    except RuntimeError:
        log.exception("job failed")

    raw = stream.getvalue()
    for secret in (SIGNATURE, "AKIAEXAMPLE", API_KEY, "secretpart", TRANSCRIPT, "merger"):
        assert secret not in raw, secret
    fetching, access, refused, bad, failed = lines(stream)
    # What helps an operator stays.
    assert fetching["message"] == (
        "fetching http://127.0.0.1:8333/minuta/recordings/abc.wav?[redacted]"
    )
    assert "GET /files/rec.wav?expires=1763900000&signature=[redacted]" in access["message"]
    assert refused["message"].startswith("refused key mk_[redacted]")
    assert "input_type=str" in bad["message"]
    assert "RuntimeError" in failed["exc"] and "abc.wav?[redacted]" in failed["exc"]


def test_text_format_for_a_terminal_appends_the_ids(root_logger: logging.Logger) -> None:
    stream = capture("serve", "text", root_logger)
    log = logging.getLogger("minuta.test")
    with log_context(job_id="j1", tenant_id="t1"):
        log.info("fetching %s", PRESIGNED)
    line = stream.getvalue().strip()
    assert " INFO minuta.test: fetching " in line
    assert line.endswith("abc.wav?[redacted] [job_id=j1 tenant_id=t1]")
    assert SIGNATURE not in line


def test_settings_come_from_the_environment(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MINUTA_LOG_FORMAT", "json")
    monkeypatch.setenv("MINUTA_LOG_LEVEL", "warning")
    handler = configure_logging("api")
    stream = io.StringIO()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    logging.getLogger("minuta.test").info("dropped")
    logging.getLogger("minuta.test").warning("kept")
    assert root_logger.level == logging.WARNING
    assert [r["message"] for r in lines(stream)] == ["kept"]
