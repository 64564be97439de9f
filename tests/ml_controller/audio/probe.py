"""Runs one hostile file in a child process and reports what happened, how long, how much memory.

    python -m tests.ml_controller.audio.probe decode FILE REPORT.json [MAX_HOURS]
    python -m tests.ml_controller.audio.probe process FILE REPORT.json [minuta process options]

`decode` calls ml_controller.audio.decode.decode_audio with the settings' limits; `process` runs
the `minuta process` command in this process. The report holds the outcome, the error message of
an AudioInputError (the only failure allowed), the elapsed seconds and the peak RSS (VmHWM).
Any other exception escapes with its traceback and a non-zero exit: the test reads that as a crash.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _peak_rss_mb() -> float:
    """VmHWM of this process's own memory. Not ru_maxrss: Linux carries that across exec, so it
    would report the test process this one was forked from (800 MB late in a full run)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _decode(path: Path, max_hours: float | None) -> dict[str, Any]:
    from dataclasses import replace

    from ml_controller.audio.decode import AudioInputError, decode_audio, limits_from
    from ml_controller.settings import MLSettings

    limits = limits_from(MLSettings())
    if max_hours is not None:
        limits = replace(limits, max_seconds=max_hours * 3600)
    try:
        with decode_audio(path, limits=limits) as audio:
            peak = float(abs(audio.block(0, audio.duration)).max()) if audio.duration < 60 else 0
            return {
                "outcome": "ok",
                "duration": audio.duration,
                "truncated": audio.truncated,
                "peak": peak,
            }
    except AudioInputError as exc:
        return {"outcome": "refused", "message": str(exc)}


def _process(path: Path, options: list[str]) -> dict[str, Any]:
    from entrypoints.cli import main

    sys.argv = ["minuta", "process", str(path), *options]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return {"outcome": "ok" if code == 0 else "refused", "exit_code": code}


def _limit_address_space() -> None:
    """The ceiling the test asks for (MINUTA_PROBE_ADDRESS_SPACE_BYTES), set here after exec: a
    preexec_fn would run in a fork of the test process, already past it in a long test run."""
    limit = os.environ.get("MINUTA_PROBE_ADDRESS_SPACE_BYTES")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))


def main() -> None:
    _limit_address_space()
    mode, path, report = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    extra = sys.argv[4:]
    began = time.monotonic()
    if mode == "decode":
        found = _decode(path, float(extra[0]) if extra else None)
    elif mode == "process":
        found = _process(path, extra)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    found.update(seconds=time.monotonic() - began, peak_rss_mb=_peak_rss_mb())
    report.write_text(json.dumps(found))


if __name__ == "__main__":
    main()
