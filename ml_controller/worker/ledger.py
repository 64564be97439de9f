"""The outcomes of this worker's recent jobs, on local disk, keyed by job id.

RabbitMQ delivers at least once: a job whose result was published but whose ack was lost (a
broker restart, a dropped connection) comes back. Answering it from here republishes the same
outcome instead of spending minutes of CPU on it again. Only final outcomes are kept: a job that
is retried must run again. Outcomes are gzipped (a long meeting's JSON is megabytes) and only the
newest `keep` stay.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from pathlib import Path
from uuid import UUID


class JobLedger:
    def __init__(self, directory: Path, keep: int = 200) -> None:
        self.directory = directory
        self.keep = keep
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, job_id: UUID) -> Path:
        return self.directory / f"{job_id}.json.gz"

    def get(self, job_id: UUID) -> bytes | None:
        try:
            return gzip.decompress(self._path(job_id).read_bytes())
        except (FileNotFoundError, EOFError, gzip.BadGzipFile):
            return None

    def put(self, job_id: UUID, event_json: bytes) -> None:
        # Write then rename, so a crash never leaves a half-written outcome to republish.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as sink:
                sink.write(gzip.compress(event_json, compresslevel=5))
            os.replace(tmp, self._path(job_id))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._prune()

    def discard(self, job_id: UUID) -> None:
        self._path(job_id).unlink(missing_ok=True)

    def _prune(self) -> None:
        entries = sorted(self.directory.glob("*.json.gz"), key=lambda p: p.stat().st_mtime)
        for old in entries[: max(0, len(entries) - self.keep)]:
            old.unlink(missing_ok=True)
