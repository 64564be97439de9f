"""`python -m services.meeting_bot --spec-file spec.json`: run one bot.

Exit status: 0 when the outcome was reported (recording handed over, or an expected failure
such as not admitted); 1 when the bot crashed (reported as `failed: crashed` when the API can
be reached; the recording so far stays in the work directory); 2 for an unreadable spec.
SIGTERM asks the bot to leave: it stops recording and uploads what it has.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from services.bots.contracts import BotEvent, BotSpec, BotState, FailureReason
from services.meeting_bot.client import BotApiClient
from services.meeting_bot.heartbeat import Heartbeat
from services.meeting_bot.runner import BotRunner

log = logging.getLogger("services.meeting_bot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.meeting_bot")
    parser.add_argument("--spec-file", type=Path, required=True, help="a BotSpec as JSON")
    parser.add_argument("--work-dir", type=Path, help="where the recording is written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per heartbeat is noise
    try:
        spec = BotSpec.model_validate_json(args.spec_file.read_text())
    except (OSError, ValidationError) as error:
        print(f"meeting bot: bad spec file {args.spec_file}: {error}", file=sys.stderr)
        return 2
    client = BotApiClient(spec)
    heartbeat = Heartbeat(client, spec.heartbeat_seconds)

    def leave_now(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: leaving the meeting", signum)
        heartbeat.leave_requested.set()

    signal.signal(signal.SIGTERM, leave_now)
    heartbeat.start()
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="minuta-bot-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        outcome = BotRunner(spec, client, heartbeat.leave_requested, work_dir).run()
        log.info("bot %s finished: %s %s", spec.bot_id, outcome.state, outcome.reason or "")
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)  # handed over (or nothing recorded)
        return 0
    except Exception as error:  # any surprise is reported as a crash
        traceback.print_exc()
        log.error("bot %s crashed; what was recorded is in %s", spec.bot_id, work_dir)
        detail = type(error).__name__  # the message stays in the log (it may name addresses)
        client.event(BotEvent(state=BotState.failed, reason=FailureReason.crashed, detail=detail))
        return 1
    finally:
        heartbeat.stop()
        client.close()


if __name__ == "__main__":
    sys.exit(main())
