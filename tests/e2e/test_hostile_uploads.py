"""A real worker fed hostile recordings in a row through the real API stays up, fails each one
once with a clear reason (bad input: never retried, never dead-lettered), and then completes a
normal recording. The files pass the API's sniffer (their first bytes are a real container's);
only decoding can tell they are unusable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from testkit.processes import transcript
from tests.e2e.conftest import Deployment
from tests.ml_controller.audio import hostile_files as hf

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 420.0
RETRY_DELAY = 2.0  # MINUTA_RETRY_DELAY_MS of the stack (processes.BROKER_SETTINGS)


def _bomb(folder: Path, voice: np.ndarray) -> Path:
    return hf.silent_flac(folder / "bomb-13h.flac", 13 * 3600, 8000)


def _header_only(folder: Path, voice: np.ndarray) -> Path:
    path = folder / "header-only.wav"
    path.write_bytes(hf.wav_header(0xFFFFFFFF, 16_000, 1))
    return path


def _many_channels(folder: Path, voice: np.ndarray) -> Path:
    return hf.multichannel_wav(folder / "tracks-65.wav", voice[:32_000], 65)


def _cut_m4a(folder: Path, voice: np.ndarray) -> Path:
    whole = hf.encode(folder / "whole.m4a", voice, 16_000, "aac")
    return hf.truncated(whole, folder / "cut.m4a")


# builder -> a phrase of the reason the meeting must show
HOSTILE: list[tuple[Callable[[Path, np.ndarray], Path], str]] = [
    (_bomb, "declares 13.0 h"),
    (_header_only, "no audio samples"),
    (_many_channels, "65 channels"),
    (_cut_m4a, "cut off before its index"),
]


def test_hostile_recordings_fail_cleanly_and_the_worker_carries_on(
    deployment: Deployment, audio: Path, tmp_path: Path
) -> None:
    d = deployment
    d.workers.stop_shared()  # this test's worker must take every job
    worker = d.workers.start("hostile-worker")
    client = d.client()
    voice = hf.speech(audio / "asr_en" / "jfk.flac")
    try:
        worker.ready()
        pid = worker.pid
        uploaded = []
        for build, phrase in HOSTILE:
            path = build(tmp_path, voice)
            answer = client.upload_bytes(path.name, path.read_bytes(), title=path.name)
            assert answer.status_code == 202, f"{path.name}: {answer.status_code} {answer.text}"
            uploaded.append((answer.json()["id"], path.name, phrase))
        normal = client.upload(audio / "asr_en" / "jfk.flac", title="after the hostile ones")

        for meeting_id, name, phrase in uploaded:
            meeting = client.wait_finished(meeting_id, JOB_TIMEOUT, watch=[worker, d.api])
            assert meeting["status"] == "failed", (name, meeting["status"])
            error = meeting["error"]
            assert name in error and phrase in error, error
            assert "minuta-job-" not in error, "no worker paths in a user-facing reason"
            assert f"job {d.stack.job_id(meeting_id)}: bad input" in worker.log()
        done = client.wait_finished(normal["id"], JOB_TIMEOUT, watch=[worker, d.api])
        assert done["status"] == "completed", done["error"]
        assert "country" in transcript(done)

        # No retry storm: after twice the retry delay nothing ran again, nothing is dead.
        time.sleep(2 * RETRY_DELAY + 1)
        for meeting_id, _, _ in uploaded:
            assert d.stack.applied_events(meeting_id) == ["job_failed"]
            assert worker.started_jobs(d.stack.job_id(meeting_id)) == 1
        assert worker.alive and worker.pid == pid
        assert "Traceback" not in worker.log()
        assert d.stack.queue_depths() == {"jobs": 0, "retry": 0, "dead": 0, "events dead": 0}
    finally:
        client.close()
