"""Training checkpoints: the Accelerator's state (model, optimizer, scheduler, RNG) plus ours.

`accelerate.save_state` writes whatever the backend needs (plain tensors, or DeepSpeed's sharded
engine checkpoint), so a rollback under ZeRO-2 and on a CPU works the same way. Our own state —
step, data cursor, recent good losses — sits beside it as JSON.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelerate import Accelerator

STATE_FILE = "trainer_state.json"
PREFIX = "step-"


@dataclass
class TrainerState:
    step: int = 0  # optimizer updates applied
    cursor: int = 0  # the next data window to read
    tokens_seen: int = 0  # tokens of the windows behind the applied updates
    good_losses: list[float] = field(default_factory=list)
    skipped_windows: list[int] = field(default_factory=list)


class CheckpointStore:
    def __init__(self, folder: Path, keep: int) -> None:
        self.folder = folder
        self.keep = keep

    def _path(self, step: int) -> Path:
        return self.folder / f"{PREFIX}{step:08d}"

    def saved(self) -> list[Path]:
        """Complete checkpoints, oldest first (a crash mid-save leaves no state file)."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.glob(f"{PREFIX}*") if (p / STATE_FILE).is_file()]
        return sorted(found)

    def latest(self) -> Path | None:
        saved = self.saved()
        return saved[-1] if saved else None

    @staticmethod
    def step_of(path: Path) -> int:
        return int(json.loads((path / STATE_FILE).read_text(encoding="utf-8"))["step"])

    def discard(self, path: Path, accelerator: Accelerator) -> None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            shutil.rmtree(path, ignore_errors=True)
        accelerator.wait_for_everyone()

    def save(self, accelerator: Accelerator, state: TrainerState) -> Path:
        path = self._path(state.step)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(path))
        if accelerator.is_main_process:
            # Written last: its presence marks the checkpoint complete.
            (path / STATE_FILE).write_text(json.dumps(asdict(state)) + "\n", encoding="utf-8")
            for old in self.saved()[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()
        return path

    def restore(self, accelerator: Accelerator, path: Path | None = None) -> TrainerState:
        """Loads `path` (default: the newest checkpoint) into the prepared objects."""
        path = path or self.latest()
        if path is None:
            raise FileNotFoundError(f"{self.folder}: no complete checkpoint to restore")
        accelerator.load_state(str(path))
        data = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        return TrainerState(**data)
