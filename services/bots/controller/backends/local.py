"""Bots as local processes: `<command> --spec-file <json>`, one process group each.

The spec file holds the bot's token, so it is created readable by this user only. The handle is
`<pid>:<start time>:<bot id>`: after an API restart the process is found again through /proc,
and a reused pid is not mistaken for the bot (its start time differs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from uuid import UUID

from services.bots.contracts import BotSpec
from services.bots.controller.backends.base import BackendError, RunnerHandle

NAME = "local"

# All a bot inherits from the API's environment: what Python, Chromium and TLS need to run.
# Never the database URL, S3 keys or signing secret: the bot's token and the API's URL are in
# its spec file, and that is all it needs.
BOT_ENVIRONMENT = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "MINUTA_CHROMIUM",
)


def bot_environment(source: Mapping[str, str] | None = None) -> dict[str, str]:
    source = os.environ if source is None else source
    return {name: source[name] for name in BOT_ENVIRONMENT if name in source}


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, None when it does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces or parentheses: fields start after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


class LocalProcessBackend:
    name = NAME

    def __init__(self, command: list[str], spec_dir: Path, *, stop_timeout: float = 10.0) -> None:
        if not command:
            raise ValueError("the bot command is empty")
        self.command = list(command)
        self.spec_dir = spec_dir
        self.stop_timeout = stop_timeout
        # Our own children, so they are reaped (no zombies) while this process lives.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def spec_path(self, bot_id: UUID) -> Path:
        return self.spec_dir / f"{bot_id}.json"

    def log_path(self, bot_id: UUID) -> Path:
        return self.spec_dir / f"{bot_id}.log"

    def launch(self, spec: BotSpec) -> RunnerHandle:
        self.spec_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.spec_path(spec.bot_id)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a previous launch's file: the token in it is stale
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(spec.model_dump_json())
        try:
            with self.log_path(spec.bot_id).open("ab") as log:
                process = subprocess.Popen(
                    [*self.command, "--spec-file", str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=bot_environment(),
                    # Its own group: stopping it also stops the browser it started.
                    start_new_session=True,
                )
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise BackendError(f"cannot start {self.command[0]}: {exc}") from exc
        self._children[process.pid] = process
        stat = _proc_stat(process.pid)
        started = stat[1] if stat else 0
        return RunnerHandle(NAME, f"{process.pid}:{started}:{spec.bot_id}")

    @staticmethod
    def _parse(handle: RunnerHandle) -> tuple[int, int, UUID]:
        try:
            pid, started, bot_id = handle.ref.split(":")
            return int(pid), int(started), UUID(bot_id)
        except ValueError as exc:
            raise BackendError(f"not a local runner handle: {handle.ref!r}") from exc

    def is_alive(self, handle: RunnerHandle) -> bool:
        pid, started, _ = self._parse(handle)
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        stat = _proc_stat(pid)
        return stat is not None and stat[1] == started and stat[0] not in ("Z", "X")

    def stop(self, handle: RunnerHandle) -> None:
        pid, _, bot_id = self._parse(handle)
        if self.is_alive(handle):
            self._signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout
            while self.is_alive(handle) and time.monotonic() < deadline:
                time.sleep(0.1)
        # Whatever is left of the group (the leader or a browser it left behind).
        if self._group_exists(pid):
            self._signal_group(pid, signal.SIGKILL)
        child = self._children.pop(pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(self.stop_timeout)
        self.spec_path(bot_id).unlink(missing_ok=True)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    @staticmethod
    def _group_exists(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
