"""Failpoints: off unless armed, refuse unknown names, and SIGKILL the process when hit."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from pydantic import ValidationError

from ml_controller.worker import failpoints
from ml_controller.worker.settings import WorkerSettings


def test_unknown_failpoints_are_refused_in_settings() -> None:
    with pytest.raises(ValidationError, match="unknown failpoint 'transcribe'"):
        WorkerSettings(worker_failpoint="transcribe")
    assert WorkerSettings(worker_failpoint="topics").worker_failpoint == "topics"
    assert WorkerSettings(worker_failpoint="").worker_failpoint is None


def test_points_follow_a_job_in_order() -> None:
    assert failpoints.POINTS[0] == "download" and failpoints.POINTS[-1] == "before-ack"
    assert "transcription" in failpoints.POINTS


def test_hit_kills_only_at_the_armed_point() -> None:
    failpoints.hit("topics", None)  # unarmed: nothing happens (we are still here)
    failpoints.hit("topics", "minutes")
    script = (
        "from ml_controller.worker import failpoints\n"
        "failpoints.hit('decode', 'topics')\n"
        "print('passed decode', flush=True)\n"
        "failpoints.hit('topics', 'topics')\n"
        "print('survived topics', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL
    assert "passed decode" in done.stdout and "survived topics" not in done.stdout
