"""The API SIGKILLed while a recording streams in: nothing half-made stays, the retry counts once.

The recording is big enough (≈12 MB) that the API has already sent S3 a part of a multipart
upload when it dies. After a restart, the abandoned parts are aborted, no meeting exists for the
cut-off upload, and the client's retry with the same Idempotency-Key creates exactly one meeting
(a second retry returns that same meeting).
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from ml_controller.audio.decode import decode_audio
from tests.faults.conftest import SHORT, FaultDeployment, FaultReport

SILENCE_SECONDS = 360


def speech_then_silence(path: Path) -> Path:
    """JFK's 11 s, then six minutes of silence: 16 kHz mono PCM, about 12 MB."""
    with decode_audio(SHORT) as audio:
        speech = np.asarray(audio.samples, dtype=np.float32)
        rate = audio.sample_rate
    pcm = np.concatenate([speech, np.zeros(SILENCE_SECONDS * rate, dtype=np.float32)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def meeting_ids(faults: FaultDeployment) -> list[str]:
    return [str(row[0]) for row in faults.reader.rows("SELECT id FROM meetings")]


class SlowFile:
    """A file httpx reads in chunks, slowly, counting what it handed over."""

    def __init__(self, path: Path, pause: float) -> None:
        self._handle = path.open("rb")
        self._pause = pause
        self.sent = 0

    def read(self, size: int = -1) -> bytes:
        time.sleep(self._pause)
        chunk = self._handle.read(size)
        self.sent += len(chunk)
        return chunk

    def close(self) -> None:
        self._handle.close()


def test_api_killed_mid_upload(
    faults: FaultDeployment, fault_report: FaultReport, tmp_path: Path
) -> None:
    worker = faults.workers.shared()
    recording = speech_then_silence(tmp_path / "long-pause.wav")
    size = recording.stat().st_size
    key = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {faults.key}", "Idempotency-Key": key}
    objects_before = set(faults.objects())
    meetings_before = set(meeting_ids(faults))
    slow = SlowFile(recording, pause=0.02)
    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            outcome["answer"] = httpx.post(
                f"{faults.api.url}/v1/meetings",
                headers=headers,
                files={"file": (recording.name, slow)},  # type: ignore[dict-item]
                data={"title": "cut off"},
                timeout=120,
            )
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=upload)
    sender.start()
    deadline = time.monotonic() + 120
    while slow.sent < 10 * 1024 * 1024:  # past the first 8 MiB part
        assert time.monotonic() < deadline and sender.is_alive(), outcome
        time.sleep(0.05)
    assert faults.api.kill() == -signal.SIGKILL
    sender.join(60)
    slow.close()
    assert "error" in outcome, f"the upload should have been cut off: {outcome}"
    assert faults.unfinished_multipart_uploads() >= 1  # the parts S3 already holds

    api = faults.restart_api(MINUTA_STALE_UPLOAD_SECONDS="1")
    client = faults.client()
    try:
        deadline = time.monotonic() + 30
        while faults.unfinished_multipart_uploads():
            assert time.monotonic() < deadline, "abandoned multipart upload not aborted"
            time.sleep(0.5)
        assert set(meeting_ids(faults)) == meetings_before
        assert set(faults.objects()) == objects_before

        def retry() -> httpx.Response:
            with recording.open("rb") as body:
                return httpx.post(
                    f"{api.url}/v1/meetings",
                    headers=headers,
                    files={"file": (recording.name, body)},
                    data={"title": "retried"},
                    timeout=120,
                )

        first = retry()
        assert first.status_code == 202, first.text
        assert "idempotent-replayed" not in first.headers
        again = retry()
        assert again.status_code == 202, again.text
        assert again.headers.get("idempotent-replayed") == "true"
        meeting = first.json()["id"]
        assert again.json()["id"] == meeting
        done = client.wait_finished(meeting, 300, watch=[worker])
        time.sleep(1.5)
        verdict = fault_report.measure(
            f"API SIGKILLed mid-upload ({size / 1e6:.0f} MB, after 10 MB)",
            "client saw the connection drop; no meeting and no object left (abandoned S3 "
            "parts aborted at restart); the retry with the same Idempotency-Key made one "
            "meeting, which completed",
            faults,
            [meeting],
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
        assert done["status"] == "completed", done["error"]
        assert (
            "ask not what your country"
            in " ".join(s["text"] for s in done["result"]["segments"]).lower()
        )
        assert set(meeting_ids(faults)) - meetings_before == {meeting}
    finally:
        client.close()
