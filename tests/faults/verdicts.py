"""What a fault scenario's table row counts, read from the deployment's database."""

from __future__ import annotations

import uuid

from testkit.processes import Stack


def jobs_lost(reader: Stack, meeting_ids: list[str]) -> int:
    """Meetings that did not end `completed`, by the database (not by the API's answers)."""
    statuses = {
        uuid.UUID(str(mid)): str(status)
        for mid, status in reader.rows("SELECT id, status FROM meetings")
    }
    return sum(1 for m in meeting_ids if statuses.get(uuid.UUID(m)) != "completed")


def jobs_done_twice(reader: Stack, meeting_ids: list[str]) -> int:
    """Meetings whose completion was applied other than exactly once."""
    return sum(1 for m in meeting_ids if reader.applied_events(m) != ["job_completed"])
