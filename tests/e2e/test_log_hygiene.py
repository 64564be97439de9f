"""No secrets or transcript in the logs: one real job through a real `minuta serve` with JSON
logs, then the whole log is read back."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.processes import Stack, serving, transcript

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 420.0
RUN = 4  # words in a row of the transcript that must not appear in the log
_WORD = re.compile(r"\w+")
# A signature or credential value that was not redacted.
_SIGNED = re.compile(
    r"(?:[?&\s]sig|signature|X-Amz-Signature|X-Amz-Credential)=(?!\[redacted\])", re.I
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def test_json_logs_carry_the_job_and_never_the_key_transcript_or_signatures(
    tmp_path: Path, audio: Path
) -> None:
    stack = Stack(tmp=tmp_path)
    with serving(stack, "hygiene", MINUTA_LOG_FORMAT="json") as (serve, client):
        created = client.upload(audio / "asr_en" / "jfk.flac", language="en")
        meeting = client.wait_finished(created["id"], JOB_TIMEOUT, watch=[serve])
        assert meeting["status"] == "completed", meeting["error"]
        job_id = str(stack.job_id(created["id"]))
        api_key = client.key
        # The same process's /metrics, unauthenticated: the API's and the worker's together.
        metrics = httpx.get(f"{serve.url}/metrics", timeout=30).text
    assert 'minuta_meetings{status="completed"} 1.0' in metrics
    assert 'minuta_queue_depth{queue="jobs"} 0.0' in metrics
    assert "minuta_worker_realtime_factor_count 1.0" in metrics
    assert 'minuta_worker_stage_duration_seconds_count{stage="transcription"}' in metrics
    assert 'minuta_dead_letters_total{queue="jobs",reason="malformed"} 0.0' in metrics
    assert 'minuta_http_requests_total{method="POST",route="/v1/meetings",status="202"} 1.0' in (
        metrics
    )
    log = serve.log()

    records: list[dict[str, Any]] = []
    for line in log.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    assert len(records) > 10
    assert all(r["service"] == "serve" for r in records)
    # uvicorn's own lines (access log included) go through the same formatter.
    assert any(r["logger"] == "uvicorn.access" for r in records)

    # Every line about the job says which job and which tenant, the worker's and the API's.
    about_job = [r for r in records if job_id in r["message"] or r.get("job_id") == job_id]
    assert {r["logger"] for r in about_job} >= {
        "ml_controller.worker.runner",
        "services.api.routes.meetings",
    }, about_job
    tenant_ids = {r.get("tenant_id") for r in about_job}
    assert len(tenant_ids) == 1 and None not in tenant_ids, about_job
    for record in about_job:
        assert record.get("job_id") == job_id, record
        assert record.get("meeting_id") == created["id"], record
    assert any("completed" in r["message"] for r in about_job)

    assert api_key not in log
    assert api_key[3:20] not in log  # not even a piece of it
    assert not _SIGNED.search(log), _SIGNED.search(log)
    said = words(transcript(meeting))
    assert len(said) >= RUN * 3, said  # a real transcript to look for
    logged = " ".join(words(log))
    for start in range(len(said) - RUN + 1):
        run = " ".join(said[start : start + RUN])
        assert f" {run} " not in f" {logged} ", f"transcript text in the log: {run!r}"
