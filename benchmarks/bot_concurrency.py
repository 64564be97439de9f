"""How many meeting bots this machine holds: CPU and memory per bot while recording.

    python -m benchmarks.bot_concurrency --bots 1 2 4 --seconds 60

For each count N: a real Janus AudioBridge meeting (in its test network namespace, as in
tests/services/meeting_bot), two headless-Chromium participants speaking real English
(FLEURS + JFK, ~68 s), and N bots started through the real entry point
(`python -m services.meeting_bot`) reporting to local receivers. While all N record, every
bot's process tree (its Python and its Chromium processes) is sampled every 2 s: CPU time,
RSS, and PSS (shared pages divided among sharers, so N bots' PSS adds up to what they really
use). Each upload is then transcribed by the product's pipeline, to show whether the recordings
stay good under load. Writes benchmarks/results/bot_concurrency.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from ml_controller.metrics import word_error_rate
from ml_controller.pipeline import MeetingPipeline, ProcessOptions
from testkit.meeting.bot import BotRun, start_bot
from testkit.meeting.conversation import build_conversation
from testkit.meeting.janus_server import start_janus
from testkit.meeting.meeting_server import MeetingServer
from testkit.meeting.participants import participants

RESULTS = Path(__file__).parent / "results" / "bot_concurrency.json"
SAMPLE_SECONDS = 2.0


@dataclass
class TreeSample:
    cpu_seconds: float
    rss_mb: float
    pss_mb: float
    processes: int


def sample_tree(pid: int) -> TreeSample:
    cpu = rss = pss = 0.0
    count = 0
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return TreeSample(0.0, 0.0, 0.0, 0)
    for process in tree:
        try:
            times = process.cpu_times()
            memory = process.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        cpu += times.user + times.system
        rss += memory.rss
        pss += getattr(memory, "pss", memory.rss)
        count += 1
    return TreeSample(cpu, rss / 2**20, pss / 2**20, count)


@dataclass
class BotFigures:
    cpu_percent: float  # of one core, averaged over the window
    pss_mb_mean: float
    rss_mb_peak: float
    processes: int
    recorded_seconds: float
    wer: float | None


def run_count(
    n: int,
    seconds: float,
    pipeline: MeetingPipeline,
    folder: Path,
    meetings: MeetingServer,
    room: int,
    conversation: Any,
) -> dict[str, Any]:
    meetings.room(room)
    bots: list[BotRun] = [
        start_bot(
            folder / f"n{n}-bot{i}",
            meetings.url(room),
            bot_name=f"Notetaker {i}",
            alone_timeout=120,
            admission_timeout=60,
            heartbeat_seconds=5,
        )
        for i in range(n)
    ]
    try:
        for bot in bots:
            bot.wait_for("recording", 120)
        people = {"Alice": conversation.speaker_wavs["A"], "Bob": conversation.speaker_wavs["B"]}
        with participants(meetings.url(room), people):
            system_before = psutil.cpu_times()
            first = [sample_tree(bot.process.pid) for bot in bots]
            began = time.monotonic()
            samples: list[list[TreeSample]] = []
            while time.monotonic() - began < seconds:
                time.sleep(SAMPLE_SECONDS)
                samples.append([sample_tree(bot.process.pid) for bot in bots])
            window = time.monotonic() - began
            last = samples[-1]
            system_after = psutil.cpu_times()
            time.sleep(max(0.0, conversation.duration + 2 - window))
            meetings.end(room)
            codes = [bot.wait_exit(120) for bot in bots]
        busy = (sum(system_after) - system_after.idle) - (sum(system_before) - system_before.idle)
        total = sum(system_after) - sum(system_before)
        figures = []
        for index, bot in enumerate(bots):
            recording = bot.receiver.received.recording
            wer = recorded = None
            if recording is not None:
                result = pipeline.process(
                    recording, ProcessOptions(language="en", with_minutes=False)
                )
                text = " ".join(segment.text for segment in result.segments)
                wer = round(word_error_rate([conversation.reference], [text]), 3)
                recorded = result.audio.duration
            figures.append(
                BotFigures(
                    cpu_percent=round(
                        100 * (last[index].cpu_seconds - first[index].cpu_seconds) / window, 1
                    ),
                    pss_mb_mean=round(sum(s[index].pss_mb for s in samples) / len(samples), 1),
                    rss_mb_peak=round(max(s[index].rss_mb for s in samples), 1),
                    processes=max(s[index].processes for s in samples),
                    recorded_seconds=round(recorded or 0.0, 1),
                    wer=wer,
                )
            )
        return {
            "bots": n,
            "window_seconds": round(window, 1),
            "exit_codes": codes,
            "states": [bot.receiver.states() for bot in bots],
            "machine_cpu_busy_percent": round(100 * busy / total, 1),
            "per_bot": [asdict(f) for f in figures],
            "cpu_percent_per_bot_mean": round(sum(f.cpu_percent for f in figures) / n, 1),
            "pss_mb_per_bot_mean": round(sum(f.pss_mb_mean for f in figures) / n, 1),
            "rss_mb_per_bot_peak": max(f.rss_mb_peak for f in figures),
            "wer_mean": round(sum(f.wer or 1.0 for f in figures) / n, 3),
        }
    finally:
        for bot in bots:
            bot.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    pipeline = MeetingPipeline()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bot-bench-") as scratch:
        folder = Path(scratch)
        conversation = build_conversation(folder / "speech")
        source = pipeline.process(
            conversation.mix_wav, ProcessOptions(language="en", with_minutes=False)
        )
        source_wer = word_error_rate(
            [conversation.reference], [" ".join(s.text for s in source.segments)]
        )
        janus = start_janus(folder)
        meetings = MeetingServer(janus.api_url)
        runs = []
        try:
            for index, n in enumerate(args.bots):
                print(f"{n} bot(s)…", flush=True)
                runs.append(
                    run_count(
                        n, args.seconds, pipeline, folder, meetings, 5000 + index, conversation
                    )
                )
        finally:
            meetings.close()
            janus.close()
    memory = psutil.virtual_memory()
    worst = max(runs, key=lambda run: run["bots"])
    cores = psutil.cpu_count() or 1
    report = {
        "measured": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": cores,
            "memory_gb": round(memory.total / 2**30, 1),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "note": "other engineers' model training shared these 2 cores during the run",
        },
        "setup": {
            "meeting": "Janus 1.1 AudioBridge, 2 Chromium participants, ~68 s of real English",
            "capture": "in-page MediaRecorder (webm/opus 64 kb/s) on the remote tracks",
            "sample_every_seconds": SAMPLE_SECONDS,
            "source_mix_wer": round(source_wer, 3),
        },
        "runs": runs,
        "estimate": {
            "cpu_percent_per_bot": worst["cpu_percent_per_bot_mean"],
            "pss_mb_per_bot": worst["pss_mb_per_bot_mean"],
            # Leaving a fifth of the CPU for the participants' side, the API and spikes.
            "bots_by_cpu": int(cores * 100 * 0.8 // max(worst["cpu_percent_per_bot_mean"], 1)),
            "bots_by_memory": int(
                memory.available / 2**20 * 0.8 // max(worst["pss_mb_per_bot_mean"], 1)
            ),
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print("| bots | CPU % per bot | PSS MB per bot | peak RSS MB | machine busy % | WER |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        print(
            f"| {run['bots']} | {run['cpu_percent_per_bot_mean']} | "
            f"{run['pss_mb_per_bot_mean']} | {run['rss_mb_per_bot_peak']} | "
            f"{run['machine_cpu_busy_percent']} | {run['wer_mean']} |"
        )
    print(json.dumps(report["estimate"]))


if __name__ == "__main__":
    main()
