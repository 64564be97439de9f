"""PostgreSQL, the S3 server and RabbitMQ taken away while jobs are in flight.

PostgreSQL and S3 are cut at a TCP proxy in front of the real server (the API and the workers
lose them; the test still reads them directly); RabbitMQ is the machine's server, stopped with
rabbitmqctl and started again.
"""

from __future__ import annotations

import time

import httpx
import pytest

from testkit.processes import AUDIO, rabbitmq_stopped, reached_transcription
from tests.faults.conftest import SHORT, FaultDeployment, FaultReport

LONGER = AUDIO / "asr_en" / "fleurs-en-004.ogg"


def test_postgres_unavailable_for_30_s(faults: FaultDeployment, fault_report: FaultReport) -> None:
    worker = faults.workers.shared()
    client = faults.client()
    try:
        meeting = client.upload(LONGER, title="through a database outage", language="en")["id"]
        client.wait(meeting, reached_transcription, 120, "transcription", watch=[worker])

        faults.pg_proxy.down()
        cut = time.monotonic()
        try:
            # Truthful answers while it is gone: 503 with a reason, never a 500 or stale data.
            read = client.http.get(f"/v1/meetings/{meeting}")
            assert read.status_code == 503, read.text
            assert "database is unavailable" in read.json()["detail"]
            assert read.headers.get("retry-after")
            upload = client.upload_bytes(SHORT.name, SHORT.read_bytes(), title="refused")
            assert upload.status_code == 503, upload.text
            ready = client.http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("unreachable")
            # The worker finishes meanwhile; its completion cannot be written yet.
            deadline = cut + 120
            while f"job {faults.reader.job_id(meeting)} completed" not in worker.log():
                assert time.monotonic() < deadline, worker.tail()
                time.sleep(0.5)
            time.sleep(max(0.0, 30 - (time.monotonic() - cut)))
        finally:
            faults.pg_proxy.up()
        outage = time.monotonic() - cut

        done = client.wait_finished(meeting, 120, watch=[worker])
        time.sleep(1.5)
        after = client.upload(SHORT, title="after the outage", language="en")["id"]
        client.wait_finished(after, 120, watch=[worker])
        verdict = fault_report.measure(
            f"PostgreSQL unreachable for {outage:.0f} s, job finishing meanwhile",
            "503 + Retry-After to clients, readyz 503; the completion waited in the retry "
            "queue and was applied once when the database came back",
            faults,
            [meeting, after],
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
        assert done["status"] == "completed", done["error"]
        assert faults.dead_letters() == 0
    finally:
        faults.pg_proxy.up()
        client.close()


def test_s3_unavailable(faults: FaultDeployment, fault_report: FaultReport) -> None:
    worker = faults.workers.shared()
    client = faults.client()
    try:
        faults.s3_proxy.down()
        cut = time.monotonic()
        try:
            refused = client.upload_bytes(SHORT.name, SHORT.read_bytes(), title="refused")
            assert refused.status_code == 503, refused.text
            assert "recording store is unavailable" in refused.json()["detail"]
        finally:
            faults.s3_proxy.up()
        # A job whose recording cannot be fetched: cut the store just after the upload.
        meeting = client.upload(SHORT, title="fetched after the outage", language="en")["id"]
        faults.s3_proxy.down()
        try:
            retrying = client.wait(
                meeting,
                lambda m: bool(m["error"]) and "Retrying" in m["error"],
                120,
                "a retry note",
                watch=[worker],
            )
            assert retrying["status"] in ("queued", "processing"), retrying
            time.sleep(max(0.0, 12 - (time.monotonic() - cut)))
        finally:
            faults.s3_proxy.up()
        outage = time.monotonic() - cut
        done = client.wait_finished(meeting, 180, watch=[worker])
        time.sleep(1.5)
        verdict = fault_report.measure(
            f"S3 server unreachable (~{outage:.0f} s in all)",
            "upload refused with 503; the job's download failed, the meeting showed "
            "'Retrying after a transient error', and it completed once the store was back",
            faults,
            [meeting],
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
        assert done["status"] == "completed", done["error"]
        assert faults.dead_letters() == 0
        assert faults.unfinished_multipart_uploads() == 0
    finally:
        faults.s3_proxy.up()
        client.close()


@pytest.mark.stops_rabbitmq
def test_rabbitmq_restarted_with_jobs_in_flight(
    faults: FaultDeployment, fault_report: FaultReport
) -> None:
    worker = faults.workers.shared()
    client = faults.client()
    try:
        running = client.upload(LONGER, title="in flight", language="en")["id"]
        waiting = client.upload(SHORT, title="queued behind it", language="en")["id"]
        client.wait(running, reached_transcription, 120, "transcription", watch=[worker])
        with rabbitmq_stopped() as stopped:
            # Uploads go on: the job waits in the outbox.
            during = client.upload(SHORT, title="uploaded while RabbitMQ is down", language="en")
            assert client.meeting(during["id"])["status"] == "queued"
            time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
        meetings = [running, waiting, during["id"]]
        finished = [client.wait_finished(m, 300, watch=[worker]) for m in meetings]
        time.sleep(1.5)
        verdict = fault_report.measure(
            "RabbitMQ stopped for 10 s with one job running, one queued, one uploaded meanwhile",
            "worker and API reconnected by themselves; all three completed once",
            faults,
            meetings,
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
        assert [m["status"] for m in finished] == ["completed"] * 3, [m["error"] for m in finished]
        assert faults.dead_letters() == 0
        assert all(faults.reader.outbox(m)["sent_at"] is not None for m in meetings)
    finally:
        client.close()


def test_readyz_names_the_missing_store(faults: FaultDeployment) -> None:
    faults.s3_proxy.down()
    try:
        answer = httpx.get(f"{faults.api.url}/readyz", timeout=30)
    finally:
        faults.s3_proxy.up()
    assert answer.status_code == 503
    assert answer.json()["checks"]["storage"].startswith("unreachable")
