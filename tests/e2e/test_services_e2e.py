"""The services end to end, as real processes: `minuta api` and `minuta worker` on the machine's
RabbitMQ, a scratch PostgreSQL database and a SeaweedFS S3 server; `minuta serve` on SQLite and
a local folder. Tenants come from the real CLI, requests go over HTTP. Nothing is faked.

Runtime matters (2 shared cores): one API process per module, short real recordings, one thread
per worker, and the LLM only in the first test. Test c stops the shared RabbitMQ for a few
seconds (marked `stops_rabbitmq`; deselect with `-m "not stops_rabbitmq"`).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

import httpx
import pytest

from ml_controller.progress import STAGES
from testkit.processes import (
    Client,
    ServeProcess,
    Stack,
    create_tenant,
    rabbit_port_open,
    rabbitmq_stopped,
    reached_transcription,
    transcript,
)
from tests.e2e.conftest import Deployment

pytestmark = pytest.mark.e2e

JFK_TEXT = "ask not what your country can do for you"
# Seconds; generous because the machine is shared, not because a job should take this long.
JOB_TIMEOUT = 420.0
LLM_JOB_TIMEOUT = 900.0
RETRY_DELAY = 2.0
# A minute of Russian speech: long enough to be caught mid-job (jfk takes ~2 s on an idle CPU).
LONG_RECORDING = (
    "asr_ru",
    "silero_vad_ru_notranscript.wav",
)  # MINUTA_RETRY_DELAY_MS of the stack (processes.BROKER_SETTINGS)


def test_a_recording_completes_with_minutes_and_the_right_speakers(
    deployment: Deployment, audio: Path
) -> None:
    d = deployment
    d.workers.stop_shared()  # an LLM-less worker must not take this job
    # The real LLM (llama.cpp in process); one thread so it does not spin against the ASR.
    worker = d.workers.start("llm-worker", MINUTA_LLM_ENGINE="", MINUTA_LLM_THREADS="1")
    client = d.client()
    try:
        worker.ready()
        created = client.upload(
            audio / "pyannote_sample" / "sample.wav",
            title="Pyannote sample",
            language="en",
            num_speakers=2,
        )
        assert created["status"] == "queued"
        assert created["speakers_hint"]["num_speakers"] == 2
        assert created["audio"]["content_type"] == "audio/wav"

        meeting = client.wait_finished(created["id"], LLM_JOB_TIMEOUT, watch=[worker, d.api])
        assert meeting["status"] == "completed", meeting["error"]
        assert meeting["error"] is None
        # Every stage shows, also those that report no fraction between start and end.
        assert set(meeting["progress"]) == set(STAGES)
        assert all(v == 1.0 for v in meeting["progress"].values())

        result = meeting["result"]
        assert result["audio"]["duration"] == pytest.approx(30.0, abs=1.0)
        assert result["audio"]["language"] == "en"
        assert result["audio"]["source"] == "sample.wav"
        speakers = [s["id"] for s in result["speakers"]]
        assert len(speakers) == 2, result["speakers"]
        assert result["segments"]
        for segment in result["segments"]:
            assert segment["speaker"] in speakers
            assert segment["text"].strip() and segment["words"], segment
            assert all(w["word"].strip() and w["end"] >= w["start"] for w in segment["words"])
        assert {s["speaker"] for s in result["segments"]} == set(speakers), "both speak"
        minutes = result["minutes"]
        assert minutes["language"] == "en"
        assert minutes["summary"].strip(), f"the LLM wrote no summary: {minutes}"

        exported = client.http.get(f"/v1/meetings/{created['id']}/export", params={"format": "md"})
        assert exported.status_code == 200
        assert minutes["summary"].strip()[:40] in exported.text
        assert d.stack.applied_events(created["id"]) == ["job_completed"]
        assert worker.terminate() == 0
    finally:
        worker.close()
        client.close()


def test_b_a_job_of_a_killed_worker_is_completed_by_another(
    deployment: Deployment, audio: Path
) -> None:
    d = deployment
    d.workers.stop_shared()  # the job must go to `first`, and after the kill to `second`
    first = d.workers.start("doomed-worker", MINUTA_WORKER_PRELOAD_MODELS="false")
    second = None
    client = d.client()
    try:
        first.ready()
        created = client.upload(
            audio.joinpath(*LONG_RECORDING), title="killed mid-job", language="ru"
        )
        meeting_id = created["id"]
        job = d.stack.job_id(meeting_id)
        client.wait(
            meeting_id,
            reached_transcription,
            JOB_TIMEOUT,
            "progress in transcription or later",
            watch=[first, d.api],
            interval=0.2,
        )
        assert first.kill() == -9
        assert first.started_jobs(job) == 1 and first.completed_jobs(job) == 0
        assert client.meeting(meeting_id)["status"] == "processing"

        second = d.workers.start("rescue-worker")
        second.ready()
        meeting = client.wait_finished(meeting_id, JOB_TIMEOUT, watch=[second, d.api])
        assert meeting["status"] == "completed", meeting["error"]
        assert meeting["result"]["audio"]["duration"] == pytest.approx(60.0, abs=1.0)
        assert transcript(meeting).strip()
        time.sleep(RETRY_DELAY + 1)  # room for a duplicate, if one were coming
        assert d.stack.applied_events(meeting_id) == ["job_completed"]
        assert second.started_jobs(job) == 1 and second.completed_jobs(job) == 1
        assert d.stack.queue_depths() == {"jobs": 0, "retry": 0, "dead": 0, "events dead": 0}
        assert second.terminate() == 0
    finally:
        first.close()
        if second is not None:
            second.close()
        client.close()


@pytest.mark.stops_rabbitmq
def test_c_a_job_uploaded_while_rabbitmq_is_down_runs_once_it_is_back(
    deployment: Deployment, audio: Path
) -> None:
    """Stops the machine's shared RabbitMQ app for a few seconds; it is always started again."""
    d = deployment
    worker = d.workers.shared()
    client = d.client()
    try:
        # Both sides connected and working before the outage (the API publishes, the worker
        # consumes, the API consumes events).
        warm = client.upload(audio / "asr_en" / "fleurs-en-004.ogg", language="en")
        done = client.wait_finished(warm["id"], JOB_TIMEOUT, watch=[worker, d.api])
        assert done["status"] == "completed", done["error"]

        with rabbitmq_stopped() as stopped:
            assert not rabbit_port_open()
            created = client.upload(
                audio / "asr_en" / "jfk.flac", title="uploaded during the outage", language="en"
            )
            meeting_id = created["id"]
            # Two failed publishes (a retry with backoff), so the clients' reconnection
            # attempts fail a few times too; a few seconds in all.
            deadline = time.monotonic() + 15
            while d.stack.outbox(meeting_id)["attempts"] < 2:
                assert time.monotonic() < deadline, "the relay did not try to publish again"
                time.sleep(0.3)
            outbox = d.stack.outbox(meeting_id)
            assert outbox["sent_at"] is None and outbox["last_error"], outbox
            assert client.meeting(meeting_id)["status"] == "queued"
            ready = httpx.get(f"{d.api.url}/readyz", timeout=10)
            # Uploads still work with the broker down: not ready is only the DB or the store.
            assert ready.status_code == 200
            assert ready.json()["checks"]["broker"].startswith("unreachable")
            assert time.monotonic() - stopped < 20, "keep the shared RabbitMQ's outage short"
        assert rabbit_port_open()

        job = d.stack.job_id(meeting_id)
        meeting = client.wait_finished(meeting_id, JOB_TIMEOUT, watch=[worker, d.api])
        assert meeting["status"] == "completed", meeting["error"]
        assert JFK_TEXT in transcript(meeting)
        assert d.stack.outbox(meeting_id)["sent_at"] is not None
        assert d.stack.applied_events(meeting_id) == ["job_completed"]
        assert worker.started_jobs(job) == 1 and worker.completed_jobs(job) == 1
        assert httpx.get(f"{d.api.url}/readyz", timeout=10).json()["checks"]["broker"] == "ok"
    finally:
        client.close()


def corrupt_wav() -> bytes:
    """A RIFF/WAVE header (so upload sniffing accepts it) and then no wave data at all."""
    body = b"this is not a recording, only text behind a wav header\n" * 300
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def test_d_a_corrupt_file_fails_once_with_a_clear_reason(deployment: Deployment) -> None:
    d = deployment
    worker = d.workers.shared()
    client = d.client()
    try:
        answer = client.upload_bytes("broken.wav", corrupt_wav(), title="corrupt")
        assert answer.status_code == 202, answer.text
        meeting_id = answer.json()["id"]
        job = d.stack.job_id(meeting_id)
        failed = client.wait_finished(meeting_id, JOB_TIMEOUT, watch=[worker, d.api])
        assert failed["status"] == "failed"
        error = failed["error"]
        assert "broken.wav" in error and "not an audio or video file" in error, error
        assert "minuta-job-" not in error, "no worker paths in a user-facing reason"
        assert failed["result"] is None

        # No retry storm: after twice the retry delay nothing moved and nothing ran again.
        time.sleep(2 * RETRY_DELAY + 2)
        again = client.meeting(meeting_id)
        assert again["status"] == "failed" and again["updated_at"] == failed["updated_at"]
        assert d.stack.applied_events(meeting_id) == ["job_failed"]
        assert worker.started_jobs(job) == 1
        assert f"job {job}: bad input" in worker.log()
        assert d.stack.queue_depths() == {"jobs": 0, "retry": 0, "dead": 0, "events dead": 0}
        export = client.http.get(f"/v1/meetings/{meeting_id}/export")
        assert export.status_code == 409 and "failed" in export.json()["detail"]
    finally:
        client.close()


def test_e_tenant_b_cannot_read_list_export_or_delete_tenant_a_meeting(
    deployment: Deployment, audio: Path
) -> None:
    d = deployment
    worker = d.workers.shared()
    a, b = d.client(d.key_a), d.client(d.key_b)
    try:
        created = a.upload(audio / "asr_en" / "fleurs-en-003.ogg", title="A's private meeting")
        meeting_id = created["id"]
        meeting = a.wait_finished(meeting_id, JOB_TIMEOUT, watch=[worker, d.api])
        assert meeting["status"] == "completed", meeting["error"]
        (key,) = d.stack.meeting_row(meeting_id, "audio_key")
        s3 = d.s3.client()
        s3.head_object(Bucket=d.stack.s3_bucket, Key=key)  # stored

        path = f"/v1/meetings/{meeting_id}"
        attempts = [
            b.http.get(path),
            b.http.get(f"{path}/export", params={"format": "json"}),
            b.http.get(f"{path}/export", params={"format": "md"}),
            b.http.get(f"{path}/events", timeout=10),
            b.http.patch(path, json={"title": "taken over"}),
            b.http.patch(f"{path}/speakers/SPEAKER_00", json={"name": "Mallory"}),
            b.http.delete(path),
        ]
        for answer in attempts:
            assert answer.status_code == 404, (answer.request.method, answer.request.url)
            assert "private" not in answer.text
        listing = b.http.get("/v1/meetings", params={"limit": 100})
        assert listing.status_code == 200
        assert meeting_id not in {m["id"] for m in listing.json()["items"]}
        assert httpx.get(f"{d.api.url}{path}", timeout=10).status_code == 401  # no key at all

        # A still has all of it, untouched.
        mine = a.meeting(meeting_id)
        assert mine["title"] == "A's private meeting" and mine["result"] == meeting["result"]
        assert meeting_id in {m["id"] for m in a.http.get("/v1/meetings").json()["items"]}
        assert a.http.get(f"{path}/export", params={"format": "json"}).status_code == 200
        s3.head_object(Bucket=d.stack.s3_bucket, Key=key)

        assert a.http.delete(path).status_code == 204
        assert a.http.get(path).status_code == 404
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket=d.stack.s3_bucket, Key=key)
    finally:
        a.close()
        b.close()


def test_f_minuta_serve_completes_and_loses_nothing_over_a_restart(
    tmp_path: Path, audio: Path
) -> None:
    # SQLite and a local folder under the data dir, no broker URL: the in-process broker.
    stack = Stack(tmp=tmp_path)
    # Drain 0: SIGTERM abandons the running job, so the restart must bring it back.
    drain = "0"
    key = create_tenant(stack, "solo")
    serve = ServeProcess(stack, MINUTA_WORKER_DRAIN_TIMEOUT_SECONDS=drain)
    restarted = None
    client = Client(serve.url, key)
    try:
        serve.ready()
        first = client.upload(audio / "asr_en" / "jfk.flac", title="JFK", language="en")
        meeting = client.wait_finished(first["id"], JOB_TIMEOUT, watch=[serve])
        assert meeting["status"] == "completed", meeting["error"]
        assert JFK_TEXT in transcript(meeting)
        assert (stack.data_dir / "recordings").is_dir()

        running = client.upload(audio.joinpath(*LONG_RECORDING), title="running", language="ru")
        waiting = client.upload(audio / "asr_en" / "fleurs-en-004.ogg", title="waiting")
        client.wait(
            running["id"],
            reached_transcription,
            JOB_TIMEOUT,
            "the second meeting in transcription",
            watch=[serve],
            interval=0.2,
        )
        assert client.meeting(waiting["id"])["status"] == "queued"
        # A clean exit: the worker stopped (its job requeued at the 0 s drain), brokers closed.
        assert serve.terminate(timeout=60) == 0
        # Stopped before either finished: the restart has work to recover.
        assert stack.meeting_row(running["id"], "status") == ("processing",)
        assert stack.meeting_row(waiting["id"], "status") == ("queued",)

        restarted = ServeProcess(
            stack, "serve-restarted", serve.port, MINUTA_WORKER_DRAIN_TIMEOUT_SECONDS=drain
        )
        restarted.ready()
        for created in (running, waiting):
            done = client.wait_finished(created["id"], JOB_TIMEOUT, watch=[restarted])
            assert done["status"] == "completed", done["error"]
            assert stack.applied_events(created["id"]) == ["job_completed"]
        assert transcript(client.meeting(running["id"])).strip()
        assert "unfinished meeting(s) again" in restarted.log()
        # The finished one was neither recomputed nor changed.
        assert stack.applied_events(first["id"]) == ["job_completed"]
        assert client.meeting(first["id"])["result"] == meeting["result"]
        assert restarted.terminate(timeout=60) == 0
    finally:
        client.close()
        serve.close()
        if restarted is not None:
            restarted.close()
