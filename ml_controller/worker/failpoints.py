"""Failpoints: let a fault test kill this worker at a chosen point of a job, the way a crash would.

Off unless `MINUTA_WORKER_FAILPOINT` names a point. A hit sends SIGKILL to the process itself, so
nothing is cleaned up, acknowledged or flushed: exactly what a machine or container dying does.
Points are the pipeline's stage names ("decode", "speech detection", "transcription", "speakers",
"topics", "minutes") plus "download", "indexing" and "before-ack" (the outcome is published but
the job not yet acknowledged, which is where a redelivered job could be done twice).
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from ml_controller.progress import STAGES

log = logging.getLogger(__name__)

# In the order a job meets them.
POINTS: tuple[str, ...] = ("download", *STAGES, "indexing", "before-ack")


def check_point(point: str | None) -> str | None:
    if point is not None and point not in POINTS:
        raise ValueError(f"unknown failpoint {point!r}; known: {', '.join(sorted(POINTS))}")
    return point


def hit(point: str, armed: str | None) -> None:
    """SIGKILL this process if `point` is the armed one."""
    if armed is None or point != armed:
        return
    log.critical("failpoint %r reached: killing this worker with SIGKILL", point)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
