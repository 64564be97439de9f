"""JSON Lines input for every stage: streamed, with the file and line number in every error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from training.errors import TrainingError


class JsonlError(TrainingError, ValueError):
    """A line of a JSONL file is not a JSON object."""


def iter_jsonl(
    path: Path, error: type[Exception] = JsonlError
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; `error` says what a bad line raises.

    Streamed line by line: a corpus file may be larger than memory.
    """
    with path.open(encoding="utf-8") as handle:
        lines = enumerate(handle, start=1)
        while True:
            try:
                number, line = next(lines)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise error(f"{path}: not UTF-8 text ({exc.reason})") from exc
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise error(f"{path}:{number}: not a JSON line ({exc.msg}); fix that line") from exc
            if not isinstance(row, dict):
                raise error(f"{path}:{number}: expected a JSON object per line")
            yield number, row
