"""The base of every error a stage raises for bad input or a run that cannot go on.

The CLI prints these as one-line messages; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TrainingError(Exception):
    """A stage stopped for a reason its message explains (which file, what, what to do)."""
