"""Retention end to end, as real processes: a real recording processed by a real worker (its
vectors in an embedded Qdrant store on disk), aged in PostgreSQL, swept by a `minuta api` with a
short sweep interval; then PostgreSQL, the S3 bucket and the Qdrant store all hold nothing of the
meeting, while another tenant's equally old meeting (no policy) keeps everything.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ml_controller.vectors.settings import VectorSettings
from ml_controller.vectors.store import VectorStore
from testkit.processes import ApiProcess
from tests.e2e.conftest import Deployment

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 420.0
SWEEP_TIMEOUT = 60.0
QUERY = "ask not what your country can do for you"
# Tables with a meeting_id column that must hold nothing of a deleted meeting.
MEETING_TABLES = ("meeting_speakers", "outbox", "applied_events")


def _wait(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def test_everything_scope_deletes_across_postgres_s3_and_qdrant(
    deployment: Deployment, audio: Path, tmp_path: Path
) -> None:
    d = deployment
    qdrant = VectorSettings(
        _env_file=None,  # type: ignore[call-arg]
        qdrant_path=tmp_path / "qdrant",
        qdrant_in_memory=False,
        qdrant_embedded_engine="edge",
    )
    # On disk, so the store can be opened and counted here once the worker has stopped.
    worker = d.workers.start(
        "retention-worker",
        MINUTA_QDRANT_IN_MEMORY="false",
        MINUTA_QDRANT_PATH=str(qdrant.resolved_path),
        MINUTA_QDRANT_EMBEDDED_ENGINE="edge",
    )
    a, b = d.client(d.key_a), d.client(d.key_b)
    sweeper: ApiProcess | None = None
    try:
        worker.ready()
        mine = a.upload(audio / "asr_en" / "jfk.flac", title="to expire", language="en")
        theirs = b.upload(audio / "asr_en" / "jfk.flac", title="to keep", language="en")
        for client, created in ((a, mine), (b, theirs)):
            done = client.wait_finished(created["id"], JOB_TIMEOUT, watch=[worker, d.api])
            assert done["status"] == "completed", done["error"]
        mine_id, theirs_id = uuid.UUID(mine["id"]), uuid.UUID(theirs["id"])
        tenant_a, key_a = (str(v) for v in d.stack.meeting_row(mine["id"], "tenant_id, audio_key"))
        tenant_b, key_b = (
            str(v) for v in d.stack.meeting_row(theirs["id"], "tenant_id, audio_key")
        )

        # Indexed: the worker's search finds the meeting's passages.
        hits = a.http.get("/v1/search", params={"q": QUERY}).json()["hits"]
        assert mine["id"] in {h["meeting_id"] for h in hits}

        policy = a.http.put("/v1/tenant/retention", json={"days": 30, "scope": "everything"})
        assert policy.status_code == 200, policy.text
        d.stack.rows(
            "UPDATE meetings SET created_at = now() - interval '40 days' "
            f"WHERE id IN ('{mine_id}', '{theirs_id}')"
        )

        # A second API process sweeping every second (the fixture's one sweeps hourly).
        sweeper = ApiProcess(d.stack, "api-retention", MINUTA_RETENTION_SWEEP_SECONDS="1").ready()
        _wait(
            "the sweep to delete the meeting",
            lambda: a.http.get(f"/v1/meetings/{mine_id}").status_code == 404,
            SWEEP_TIMEOUT,
        )
        _wait(
            "the worker to apply the vector deletion",
            lambda: f"applied delete_meeting for tenant {tenant_a}" in worker.log(),
            SWEEP_TIMEOUT,
        )

        # PostgreSQL: no row of the meeting anywhere; the vector command was published.
        assert d.stack.rows(f"SELECT id FROM meetings WHERE id = '{mine_id}'") == []
        for table in MEETING_TABLES:
            assert d.stack.rows(f"SELECT 1 FROM {table} WHERE meeting_id = '{mine_id}'") == [], (
                table
            )
        pending = d.stack.rows(
            "SELECT sent_at FROM outbox_vectors WHERE kind = 'delete_meeting' "
            f"AND body->>'meeting_id' = '{mine_id}'"
        )
        assert len(pending) == 1 and pending[0][0] is not None
        assert d.stack.rows(f"SELECT id FROM meetings WHERE id = '{theirs_id}'") != []
        assert b.meeting(theirs["id"])["audio"]["deleted_at"] is None

        # S3: the recording's object is gone from the bucket; the other tenant's stays.
        s3 = d.s3.client()
        listed = s3.list_objects_v2(Bucket=d.stack.s3_bucket)
        keys = {item["Key"] for item in listed.get("Contents", [])}
        assert key_a not in keys and not any(str(mine_id) in k for k in keys)
        assert key_b in keys

        # Qdrant: no point of the meeting in either collection; the other tenant's remain.
        assert worker.terminate() == 0
        store = VectorStore.from_settings(qdrant)
        try:
            assert store.count_points(tenant_a, str(mine_id)) == {"chunks": 0, "voiceprints": 0}
            kept = store.count_points(tenant_b, str(theirs_id))
            assert kept["chunks"] > 0 and kept["voiceprints"] > 0, kept
        finally:
            store.close()
        assert "retention: tenant" in sweeper.log() and QUERY not in sweeper.log().lower()
        assert httpx.get(f"{sweeper.url}/readyz", timeout=10).status_code == 200
    finally:
        worker.close()
        if sweeper is not None:
            sweeper.terminate(timeout=30)
            sweeper.close()
        a.close()
        b.close()
