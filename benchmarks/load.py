"""Load benchmark of the services: N concurrent uploads of short real recordings, W workers.

    python -m benchmarks.load --uploads 12 --workers 2

Starts the real system on this machine: a scratch PostgreSQL database, a SeaweedFS S3 server,
RabbitMQ (under a name prefix of its own), one `minuta api` and W `minuta worker` processes
(no LLM: this measures the services and the speech pipeline, not the minutes model). Creates a
tenant with the CLI, uploads N recordings at once (cycling through ../shared/data/audio/asr_en
and asr_ru) and, while the workers are busy, polls GET /v1/meetings/{id} and GET /v1/meetings.

Reports throughput (meetings and audio minutes per wall minute), upload latency and API read
latency (p50/p99), and checks that nothing was lost (every meeting completed) and nothing ran
twice (one applied completion per meeting in the API's database, one "started" and one
"completed" line per job across the worker logs, empty job and dead-letter queues). Writes
benchmarks/results/load.json and prints a Markdown table. Everything started is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from testkit.postgres import create_scratch_database, drop_scratch_database
from testkit.processes import (
    AUDIO,
    RABBIT_URL,
    ApiProcess,
    Stack,
    WorkerProcess,
    create_tenant,
)
from testkit.rabbitmq import unique_prefix
from testkit.s3_server import SeaweedFS

RESULTS = Path(__file__).resolve().parent / "results"
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".webm"}


def recordings(audio: Path = AUDIO) -> list[Path]:
    found = [
        path
        for folder in ("asr_en", "asr_ru")
        for path in sorted((audio / folder).iterdir())
        if path.suffix.lower() in AUDIO_SUFFIXES
    ]
    if not found:
        raise SystemExit(f"no recordings under {audio} (set MINUTA_SHARED_DATA)")
    return found


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    return {
        "count": len(ms),
        "p50_ms": round(p50, 1) if p50 is not None else None,
        "p99_ms": round(p99, 1) if p99 is not None else None,
        "max_ms": round(max(ms), 1) if ms else None,
    }


def timestamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


@dataclass
class Run:
    """What the load phase observed."""

    started: float = 0.0  # wall clock (time.time) just before the first upload
    upload_seconds: list[float] = field(default_factory=list)
    upload_errors: list[str] = field(default_factory=list)
    meeting_ids: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    read_seconds: list[float] = field(default_factory=list)
    list_seconds: list[float] = field(default_factory=list)
    read_errors: int = 0
    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    timed_out: bool = False


async def load(
    base_url: str, api_key: str, files: list[Path], uploads: int, pollers: int, timeout: float
) -> Run:
    run = Run()
    headers = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_connections=uploads + pollers + 4)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=120, limits=limits
    ) as client:

        async def upload(path: Path, n: int) -> None:
            began = time.perf_counter()
            with path.open("rb") as recording:
                answer = await client.post(
                    "/v1/meetings",
                    files={"file": (path.name, recording.read())},
                    data={"title": f"load {n}: {path.name}"},
                )
            run.upload_seconds.append(time.perf_counter() - began)
            if answer.status_code != 202:
                run.upload_errors.append(f"{path.name}: {answer.status_code} {answer.text[:200]}")
                return
            meeting_id = answer.json()["id"]
            run.meeting_ids.append(meeting_id)
            run.files[meeting_id] = path.name

        busy = asyncio.Event()
        busy.set()

        async def poll(offset: int) -> None:
            # One client reading while the workers work: a meeting, then the list.
            for n in itertools.count(offset):
                if not busy.is_set():
                    return
                if run.meeting_ids:
                    meeting_id = run.meeting_ids[n % len(run.meeting_ids)]
                    began = time.perf_counter()
                    answer = await client.get(f"/v1/meetings/{meeting_id}")
                    if answer.status_code == 200:
                        run.read_seconds.append(time.perf_counter() - began)
                    else:
                        run.read_errors += 1
                began = time.perf_counter()
                answer = await client.get("/v1/meetings", params={"limit": 20})
                if answer.status_code == 200:
                    run.list_seconds.append(time.perf_counter() - began)
                else:
                    run.read_errors += 1
                await asyncio.sleep(0.05)

        async def statuses() -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 100}
                if cursor:
                    params["cursor"] = cursor
                page = (await client.get("/v1/meetings", params=params)).json()
                found.update({m["id"]: m for m in page["items"]})
                cursor = page["next_cursor"]
                if not cursor:
                    return found

        run.started = time.time()
        chosen = [files[n % len(files)] for n in range(uploads)]
        pollers_done = [asyncio.create_task(poll(i * 7)) for i in range(pollers)]
        await asyncio.gather(*(upload(path, n) for n, path in enumerate(chosen)))

        deadline = time.monotonic() + timeout
        while True:
            current = await statuses()
            mine = {k: v for k, v in current.items() if k in run.files}
            if all(m["status"] in ("completed", "failed") for m in mine.values()):
                break
            if time.monotonic() > deadline:
                run.timed_out = True
                break
            await asyncio.sleep(0.5)
        busy.clear()
        await asyncio.gather(*pollers_done)
        run.final = {k: (await client.get(f"/v1/meetings/{k}")).json() for k in run.meeting_ids}
    return run


def check_jobs(stack: Stack, run: Run, workers: list[WorkerProcess]) -> dict[str, Any]:
    """Zero lost and zero duplicated, from the database, the worker logs and the queues."""
    logs = "".join(worker.log() for worker in workers)
    applied_bad, started_bad, completed_bad = [], [], []
    for meeting_id in run.meeting_ids:
        job = stack.job_id(meeting_id)
        if stack.applied_events(meeting_id) != ["job_completed"]:
            applied_bad.append(meeting_id)
        if logs.count(f"job {job} (attempt") != 1:
            started_bad.append(str(job))
        if logs.count(f"job {job} completed") != 1:
            completed_bad.append(str(job))
    statuses = [run.final[m]["status"] for m in run.meeting_ids]
    return {
        "uploaded": len(run.meeting_ids),
        "completed": statuses.count("completed"),
        "failed": statuses.count("failed"),
        "lost": len(run.meeting_ids) - statuses.count("completed") + len(run.upload_errors),
        "meetings_without_exactly_one_applied_completion": applied_bad,
        "jobs_started_other_than_once": started_bad,
        "jobs_completed_other_than_once": completed_bad,
        "queues_after": stack.queue_depths(),
    }


def report(
    args: argparse.Namespace, run: Run, checks: dict[str, Any], setup: dict[str, float]
) -> dict[str, Any]:
    done = [run.final[m] for m in run.meeting_ids if run.final[m]["status"] == "completed"]
    finished_at = max((timestamp(m["completed_at"]) for m in done), default=run.started)
    wall = max(finished_at - run.started, 1e-9)
    audio_seconds = sum(m["result"]["audio"]["duration"] for m in done)
    turnaround = [timestamp(m["completed_at"]) - timestamp(m["created_at"]) for m in done]
    duplicated = (
        len(checks["meetings_without_exactly_one_applied_completion"])
        + len(checks["jobs_completed_other_than_once"])
        + len(checks["jobs_started_other_than_once"])
    )
    ok = (
        checks["lost"] == 0
        and duplicated == 0
        and not run.timed_out
        and run.read_errors == 0
        and checks["queues_after"]["jobs"] == 0
        and checks["queues_after"]["dead"] == 0
    )
    return {
        "command": f"python -m benchmarks.load --uploads {args.uploads} --workers {args.workers}"
        f" --threads {args.threads}",
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": setup["load_average"],
            "python": platform.python_version(),
        },
        "config": {
            "uploads": args.uploads,
            "workers": args.workers,
            "threads_per_worker": args.threads,
            "llm": "none",
            "pollers": args.pollers,
            "recordings": sorted(set(run.files.values())),
        },
        "setup_seconds": {k: round(v, 1) for k, v in setup.items() if k != "load_average"},
        "wall_seconds": round(wall, 1),
        "throughput": {
            "meetings_per_minute": round(len(done) / wall * 60, 2),
            "audio_minutes": round(audio_seconds / 60, 2),
            "audio_minutes_per_wall_minute": round(audio_seconds / wall, 2),
        },
        "latency": {
            "upload": summary(run.upload_seconds),
            "get_meeting_while_busy": summary(run.read_seconds),
            "list_meetings_while_busy": summary(run.list_seconds),
            "turnaround_upload_to_completed": {
                "p50_s": round(percentile(turnaround, 50) or 0, 1),
                "max_s": round(max(turnaround, default=0), 1),
            },
        },
        "jobs": {**checks, "duplicated": duplicated, "timed_out": run.timed_out},
        "read_errors": run.read_errors,
        "upload_errors": run.upload_errors,
        "ok": ok,
    }


def markdown(result: dict[str, Any]) -> str:
    lat, thr, jobs, config = (
        result["latency"],
        result["throughput"],
        result["jobs"],
        result["config"],
    )
    queues = jobs["queues_after"]
    turnaround = lat["turnaround_upload_to_completed"]

    def pair(name: str) -> str:
        item = lat[name]
        return f"{item['p50_ms']} / {item['p99_ms']} ms (n={item['count']})"

    rows = [
        (
            "uploads / workers (threads each)",
            f"{config['uploads']} / {config['workers']} ({config['threads_per_worker']})",
        ),
        ("wall time, first upload → last completed", f"{result['wall_seconds']} s"),
        ("meetings completed per minute", thr["meetings_per_minute"]),
        (
            "audio minutes per wall minute",
            f"{thr['audio_minutes_per_wall_minute']} ({thr['audio_minutes']} min of audio)",
        ),
        ("upload latency p50 / p99", pair("upload")),
        ("GET /v1/meetings/{id} p50 / p99 (workers busy)", pair("get_meeting_while_busy")),
        ("GET /v1/meetings p50 / p99 (workers busy)", pair("list_meetings_while_busy")),
        ("upload → completed p50 / max", f"{turnaround['p50_s']} / {turnaround['max_s']} s"),
        ("completed / failed / lost", f"{jobs['completed']} / {jobs['failed']} / {jobs['lost']}"),
        ("duplicated jobs", jobs["duplicated"]),
        (
            "queues after (jobs, retry, dead)",
            f"{queues['jobs']}, {queues['retry']}, {queues['dead']}",
        ),
    ]
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    return "\n".join(lines)


@dataclass
class System:
    """The services of one benchmark run, ready: models loaded, a tenant's key made."""

    stack: Stack
    api: ApiProcess
    workers: list[WorkerProcess]
    s3: SeaweedFS
    key: str
    setup_seconds: dict[str, float]
    tmp: Path


@contextmanager
def started_system(
    name: str, workers: int, common: dict[str, str], *, keep: bool = False
) -> Iterator[System]:
    """A scratch database, a SeaweedFS server, a RabbitMQ prefix, `minuta api` and `workers`
    `minuta worker`s; everything stopped and removed afterwards (`keep`: the folder with the
    logs stays)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"minuta-{name}-"))
    database_url = create_scratch_database()
    seaweed = SeaweedFS(tmp / "seaweedfs")
    stack: Stack | None = None
    api: ApiProcess | None = None
    started: list[WorkerProcess] = []
    try:
        began = time.monotonic()
        s3 = seaweed.start()
        stack = Stack(
            tmp=tmp,
            database_url=database_url,
            broker_url=RABBIT_URL,
            broker_prefix=unique_prefix().replace("test-", f"{name}-"),
            s3_endpoint_url=s3.endpoint_url,
            s3_bucket=f"minuta-{name}-{uuid.uuid4().hex[:8]}",
            s3_access_key_id=s3.access_key_id,
            s3_secret_access_key=s3.secret_access_key,
            common=common,
        )
        key = create_tenant(stack, name)
        api = ApiProcess(stack).ready()
        setup = {"api_ready": time.monotonic() - began}
        began = time.monotonic()
        started = [WorkerProcess(stack, f"worker-{n + 1}") for n in range(workers)]
        for worker in started:
            worker.ready()  # models loaded: the run measures work, not start-up
        setup["workers_ready"] = time.monotonic() - began
        yield System(stack, api, started, seaweed, key, setup, tmp)
    finally:
        for worker in started:
            worker.close()
        if api is not None:
            api.close()
        try:
            if stack is not None:
                stack.delete_broker_topology()
        finally:
            drop_scratch_database(database_url)
            seaweed.stop()
            if not keep:
                shutil.rmtree(tmp, ignore_errors=True)


def publish(result: dict[str, Any], table: str, output: Path) -> None:
    """Write the JSON, print the table; exit 1 when the run's checks failed."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(table)
    print(f"\n{'OK' if result['ok'] else 'FAILED'}: written to {output}")
    if not result["ok"]:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="MINUTA_THREADS of each worker")
    parser.add_argument("--pollers", type=int, default=2, help="clients reading while busy")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for all jobs")
    parser.add_argument("--output", type=Path, default=RESULTS / "load.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()

    setup: dict[str, float] = {"load_average": round(os.getloadavg()[0], 2)}
    common = {"MINUTA_THREADS": str(args.threads)}
    with started_system("load", args.workers, common, keep=args.keep) as system:
        setup.update(system.setup_seconds)
        run = asyncio.run(
            load(system.api.url, system.key, recordings(), args.uploads, args.pollers, args.timeout)
        )
        time.sleep(2)  # a duplicate completion, if any, would be applied by now
        checks = check_jobs(system.stack, run, system.workers)
        result = report(args, run, checks, setup)
        result["logs"] = str(system.tmp / "logs") if args.keep else None

    publish(result, markdown(result), args.output)


if __name__ == "__main__":
    main()
