"""A worker SIGKILLed at every point of a job: another worker finishes it, exactly once.

Two workers consume: a survivor, and one armed with a failpoint that kills it (SIGKILL, no
cleanup) when its job reaches the point. Two recordings are uploaded, so each worker takes one.
The killed worker's job must be redelivered to the survivor and complete; the user must see a
truthful status meanwhile; no completion may be applied twice (the "before-ack" point publishes
the result and dies before acknowledging, so the job is delivered again; its API link is spent
by then, and the second delivery is dropped).
"""

from __future__ import annotations

import signal
import time

import pytest

from ml_controller.worker.failpoints import POINTS
from tests.faults.conftest import SHORT, FaultDeployment, FaultReport


@pytest.mark.parametrize("point", POINTS)
def test_worker_killed_at_point_loses_no_job(
    faults: FaultDeployment, fault_report: FaultReport, point: str
) -> None:
    survivor = faults.workers.shared()
    doomed = faults.workers.start(
        f"killed-at-{point.replace(' ', '-')}",
        MINUTA_WORKER_FAILPOINT=point,
        MINUTA_WORKER_PRELOAD_MODELS="false",  # loads while the survivor works
    ).ready()
    client = faults.client()
    try:
        meetings = [
            client.upload(SHORT, title=f"killed at {point} #{n}", language="en")["id"]
            for n in range(2)
        ]
        code = doomed.process.wait(timeout=300)
        assert code == -signal.SIGKILL, f"the worker exited with {code}\n{doomed.tail()}"
        assert f"failpoint '{point}' reached" in doomed.log()
        jobs = {str(faults.reader.job_id(m)): m for m in meetings}
        victim = next(m for job, m in jobs.items() if f"job {job} (attempt" in doomed.log())

        # What the user sees right after the crash: still in progress (or, if the result was
        # already published, completed) — never failed, never a made-up result.
        seen = client.meeting(victim)
        expected = {"completed"} if point == "before-ack" else {"queued", "processing"}
        assert seen["status"] in expected, seen

        finished = [client.wait_finished(m, 300, watch=[survivor]) for m in meetings]
        time.sleep(1.5)  # a second completion, if any, would be applied by now
        verdict = fault_report.measure(
            f"worker SIGKILLed at {point}",
            "redelivered to the other worker, completed once"
            + (" (redelivery dropped: its link was spent)" if point == "before-ack" else ""),
            faults,
            meetings,
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
        statuses = [m["status"] for m in finished]
        assert statuses == ["completed", "completed"], [m["error"] for m in finished]
        assert faults.dead_letters() == 0
        victim_job = faults.reader.job_id(victim)
        if point == "before-ack":
            # The result was in: the redelivery finds the job's API link spent (410) and drops
            # the job instead of running it again or reporting a failure.
            assert f"job {victim_job} is over on the API side" in survivor.log()
        else:
            assert f"job {victim_job} completed" in survivor.log()
    finally:
        client.close()
        doomed.close()
