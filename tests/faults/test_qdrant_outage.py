"""Qdrant unavailable while meetings are processed, then back.

No Qdrant server runs on these machines: the worker's store is the mock REST server
(tests/services/qdrant_mock_server.py: qdrant-client's local mode behind Qdrant's REST API),
reached by MINUTA_QDRANT_URL as a real server would be, and SIGKILLed to take it away (clients
get "connection refused"; the port stays reserved, the data stays on disk).

What the worker does: the vector step (voice naming, then indexing) runs after the pipeline; an
unreachable store makes the job wait (DependencyUnavailableError: back through the retry queue
every MINUTA_RETRY_DELAY_MS without using an attempt, however long the outage), the meeting stays
"processing" with "Retrying after a transient error: ...", and the speech results of the first
attempt are kept on the worker's disk so waiting does not run the pipeline again. Vector commands
(a meeting's deletion) wait the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from qdrant_client import QdrantClient

from ml_controller.vectors.client_backend import ClientBackend
from ml_controller.vectors.store import VectorStore
from testkit.processes import WorkerProcess, transcript
from tests.faults.conftest import FAULT_SETTINGS, SHORT, FaultDeployment, FaultReport
from tests.services.qdrant_mock_server import MockQdrant, mock_qdrant_server

JFK_TEXT = "ask not what your country can do for you"
QUERY = "what you can do for your country"
RETRY_DELAY = int(FAULT_SETTINGS["MINUTA_RETRY_DELAY_MS"]) / 1000
MAX_ATTEMPTS = int(FAULT_SETTINGS["MINUTA_MAX_ATTEMPTS"])
JOB_TIMEOUT = 300.0


@dataclass
class QdrantWorker:
    qdrant: MockQdrant
    worker: WorkerProcess


@pytest.fixture(scope="module")
def qdrant_worker(
    faults: FaultDeployment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QdrantWorker]:
    """The deployment's only worker for this module, its vectors in the mock Qdrant server."""
    faults.workers.stop_shared()  # a worker with an in-memory store would take the jobs
    with mock_qdrant_server(tmp_path_factory.mktemp("qdrant")) as qdrant:
        # It opens the store and migrates its schema at start, so Qdrant is up then.
        worker = faults.workers.start(
            "qdrant-worker", MINUTA_QDRANT_URL=qdrant.url, MINUTA_QDRANT_IN_MEMORY=""
        )
        try:
            yield QdrantWorker(qdrant, worker.ready())
        finally:
            # Before the server goes: later tests' jobs must not land on a worker without a store.
            worker.close()


def _retrying(meeting: dict[str, Any]) -> bool:
    return str(meeting.get("error") or "").startswith("Retrying after a transient error")


def _waits(worker: WorkerProcess, job: object) -> int:
    return worker.log().count(f"job {job}: vector store unreachable, waiting")


def _wait_for(
    condition: Callable[[], bool], timeout: float, what: str, worker: WorkerProcess
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert worker.alive, f"the worker died waiting for {what}\n{worker.tail()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{worker.tail()}"
        time.sleep(0.3)


def _points(qdrant: MockQdrant, tenant_id: object, meeting_id: str) -> dict[str, int]:
    # No version check: its background request would race the next stop of the server.
    client = QdrantClient(url=qdrant.url, timeout=10, check_compatibility=False)
    store = VectorStore(ClientBackend(client, local=False))
    try:
        return store.count_points(str(tenant_id), meeting_id)
    finally:
        store.close()


def test_qdrant_mock_down_longer_than_the_retries_then_back(
    faults: FaultDeployment, fault_report: FaultReport, qdrant_worker: QdrantWorker
) -> None:
    qdrant, worker = qdrant_worker.qdrant, qdrant_worker.worker
    dead_before = faults.dead_letters()
    client = faults.client()
    try:
        qdrant.stop()
        down_at = time.monotonic()
        meeting_id = client.upload(SHORT, title="while Qdrant is down", language="en")["id"]
        job = faults.reader.job_id(meeting_id)

        # Truthful while it is down: in progress with the reason; neither completed without
        # vectors nor failed for good.
        seen = client.wait(meeting_id, _retrying, JOB_TIMEOUT, "a retry note", watch=[worker])
        assert seen["status"] == "processing", seen
        assert "naming or indexing the meeting failed" in seen["error"]
        assert "Connection refused" in seen["error"]
        assert seen["result"] is None
        # Search needs the store too: a clear 502, not an empty list that looks like no match.
        search = client.http.get("/v1/search", params={"q": QUERY})
        assert search.status_code == 502, search.text
        assert "try again" in search.json()["detail"]
        # Longer than every attempt the job has: it must still be waiting, not dead.
        _wait_for(lambda: _waits(worker, job) > MAX_ATTEMPTS, JOB_TIMEOUT, "the retries", worker)
        assert _retrying(client.meeting(meeting_id))
        assert faults.dead_letters() == dead_before

        qdrant.start()
        outage = time.monotonic() - down_at
        done = client.wait_finished(meeting_id, JOB_TIMEOUT, watch=[worker])
        time.sleep(RETRY_DELAY + 1)  # room for a duplicate, if one were coming
        waits = _waits(worker, job)
        verdict = fault_report.measure(
            f"Qdrant unreachable for {outage:.0f} s ({waits} retry rounds, more than the "
            f"{MAX_ATTEMPTS} attempts a job has)",
            "meeting 'processing' with a retry note, search 502; the job waited without using "
            "attempts (speech work kept, pipeline ran once) and completed once when Qdrant was "
            "back, indexed and searchable",
            faults,
            [meeting_id],
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
        assert done["status"] == "completed", done["error"]
        assert done["error"] is None
        assert JFK_TEXT in transcript(done)
        kept = worker.log().count(f"job {job}: speech results kept from an earlier attempt")
        assert kept == waits, (kept, waits)  # the pipeline ran once, not once per attempt
        assert worker.completed_jobs(job) == 1, worker.tail()
        assert faults.dead_letters() == dead_before
        depths = faults.reader.queue_depths()
        assert depths["jobs"] == 0 and depths["retry"] == 0, depths

        # Indexed once the store was back: the API's search finds the meeting.
        found = client.http.get("/v1/search", params={"q": QUERY})
        assert found.status_code == 200, found.text
        assert found.json()["hits"][0]["meeting_id"] == meeting_id
        (tenant_id,) = faults.reader.meeting_row(meeting_id, "tenant_id")
        points = _points(qdrant, tenant_id, meeting_id)
        assert points["chunks"] >= 1 and points["voiceprints"] >= 1, points
    finally:
        if not qdrant.running:
            qdrant.start()
        client.close()


def test_meeting_deleted_while_qdrant_mock_is_down(
    faults: FaultDeployment, fault_report: FaultReport, qdrant_worker: QdrantWorker
) -> None:
    """Deleting a meeting queues a DeleteMeetingVectors command for the worker; with the store
    down it must wait (past every attempt) and delete every point once the store is back."""
    qdrant, worker = qdrant_worker.qdrant, qdrant_worker.worker
    client = faults.client()
    try:
        meeting_id = client.upload(SHORT, title="deleted during an outage", language="en")["id"]
        done = client.wait_finished(meeting_id, JOB_TIMEOUT, watch=[worker])
        assert done["status"] == "completed", done["error"]
        (tenant_id,) = faults.reader.meeting_row(meeting_id, "tenant_id")
        indexed = _points(qdrant, tenant_id, meeting_id)
        assert indexed["chunks"] >= 1 and indexed["voiceprints"] >= 1, indexed

        qdrant.stop()
        down_at = time.monotonic()
        seen = len(worker.log())
        assert client.http.delete(f"/v1/meetings/{meeting_id}").status_code == 204
        assert client.http.get(f"/v1/meetings/{meeting_id}").status_code == 404

        def waits() -> list[str]:
            return [
                line
                for line in worker.log()[seen:].splitlines()
                if "vectors message" in line and line.endswith("→ wait")
            ]

        _wait_for(
            lambda: len(waits()) > MAX_ATTEMPTS,
            JOB_TIMEOUT,
            f"more than {MAX_ATTEMPTS} waits of the delete command",
            worker,
        )
        assert "→ dead" not in worker.log()[seen:]
        qdrant.start()
        outage = time.monotonic() - down_at
        deadline = time.monotonic() + RETRY_DELAY * 3 + 10
        gone = {"chunks": 0, "voiceprints": 0}
        while (left := _points(qdrant, tenant_id, meeting_id)) != gone:
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        # "Lost" here is the delete command: points still there once the store is back.
        fault_report.record(
            f"meeting deleted with Qdrant unreachable for {outage:.0f} s",
            f"the vector delete command waited ({len(waits())} rounds, past the "
            f"{MAX_ATTEMPTS} attempts) and removed every point once Qdrant was back",
            jobs=1,
            lost=int(left != gone),
            done_twice=0,
        )
        assert left == gone, f"points left after the outage: {left}"
        assert faults.reader.queue_depths()["dead"] == 0
    finally:
        if not qdrant.running:
            qdrant.start()
        client.close()
