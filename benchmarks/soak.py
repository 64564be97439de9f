"""Soak run of the services: continuous uploads for a long time, loopback only, bounded.

    python -m benchmarks.soak --minutes 32

Starts the real system (scratch PostgreSQL database, SeaweedFS S3, RabbitMQ under its own name
prefix, one `minuta api`, one `minuta worker`, no LLM) and for `--minutes` keeps uploading short
real recordings (one every `--upload-interval` seconds while fewer than `--max-backlog` wait),
while a client reads the API continuously (a meeting, the list, /healthz). Every
`--sample-interval` seconds it records the resident memory of every process it started.

Reports, per window of `--window` minutes: uploads, completions, API latency p50/p99 and each
process's memory; then the memory trend of each process after warm-up (MB per hour, least
squares), the first-to-last-window p99 ratio, and the job checks of the load benchmark (zero lost,
none done twice, empty queues). Writes benchmarks/results/soak.json and prints Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.load import Run, check_jobs, percentile, publish, recordings, started_system

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024


@dataclass
class Observed:
    """Raw observations, each stamped with seconds since the start."""

    requests: list[tuple[float, str, float, int]] = field(default_factory=list)
    memory: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    uploads: list[float] = field(default_factory=list)
    completions: dict[str, float] = field(default_factory=dict)


def rss_mib(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process and its children (a worker's threads are in-process)."""
    found: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            process = psutil.Process(pid)
            total = process.memory_info().rss
            for child in process.children(recursive=True):
                total += child.memory_info().rss
            found[name] = round(total / MIB, 1)
        except psutil.Error:
            found[name] = float("nan")
    return found


async def soak(
    base_url: str,
    api_key: str,
    files: list[Path],
    pids: dict[str, int],
    args: argparse.Namespace,
) -> tuple[Run, Observed]:
    run, seen = Run(), Observed()
    start = time.monotonic()
    duration = args.minutes * 60
    headers = {"Authorization": f"Bearer {api_key}"}
    finished: set[str] = set()

    def now() -> float:
        return time.monotonic() - start

    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:

        async def timed(label: str, path: str, **params: Any) -> httpx.Response | None:
            began = time.perf_counter()
            try:
                answer = await client.get(path, params=params or None)
            except httpx.HTTPError:
                seen.requests.append((now(), label, time.perf_counter() - began, 0))
                run.read_errors += 1
                return None
            seen.requests.append((now(), label, time.perf_counter() - began, answer.status_code))
            if answer.status_code != 200:
                run.read_errors += 1
            return answer

        async def uploader() -> None:
            for n in itertools.count():
                if now() >= duration:
                    return
                if len(run.meeting_ids) - len(finished) < args.max_backlog:
                    path = files[n % len(files)]
                    began = time.perf_counter()
                    answer = await client.post(
                        "/v1/meetings",
                        files={"file": (path.name, path.read_bytes())},
                        data={"title": f"soak {n}: {path.name}"},
                    )
                    run.upload_seconds.append(time.perf_counter() - began)
                    seen.uploads.append(now())
                    if answer.status_code == 202:
                        meeting_id = answer.json()["id"]
                        run.meeting_ids.append(meeting_id)
                        run.files[meeting_id] = path.name
                    else:
                        run.upload_errors.append(f"{answer.status_code} {answer.text[:200]}")
                await asyncio.sleep(args.upload_interval)

        async def reader(stop: asyncio.Event) -> None:
            for n in itertools.count():
                if stop.is_set():
                    return
                if run.meeting_ids:
                    meeting_id = run.meeting_ids[n % len(run.meeting_ids)]
                    answer = await timed("get_meeting", f"/v1/meetings/{meeting_id}")
                    if (
                        answer is not None
                        and answer.status_code == 200
                        and answer.json()["status"] in ("completed", "failed")
                        and meeting_id not in finished
                    ):
                        finished.add(meeting_id)
                        seen.completions[meeting_id] = now()
                await timed("list_meetings", "/v1/meetings", limit=20)
                await timed("healthz", "/healthz")
                await asyncio.sleep(1 / args.read_rate)

        async def sampler(stop: asyncio.Event) -> None:
            while not stop.is_set():
                seen.memory.append((now(), rss_mib(pids)))
                print(
                    f"[{now() / 60:5.1f} min] uploaded {len(run.meeting_ids)}, finished "
                    f"{len(finished)}, memory {seen.memory[-1][1]}",
                    flush=True,
                )
                await asyncio.sleep(args.sample_interval)

        stop = asyncio.Event()
        background = [
            asyncio.create_task(reader(stop)),
            asyncio.create_task(sampler(stop)),
        ]
        run.started = time.time()
        await uploader()
        # Drain: what was uploaded must finish (bounded), while reads and samples go on.
        deadline = time.monotonic() + args.drain_timeout
        while len(finished) < len(run.meeting_ids) and time.monotonic() < deadline:
            await asyncio.sleep(1)
        run.timed_out = len(finished) < len(run.meeting_ids)
        stop.set()
        await asyncio.gather(*background)
        run.final = {k: (await client.get(f"/v1/meetings/{k}")).json() for k in run.meeting_ids}
    return run, seen


def slope_mib_per_hour(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    fit = statistics.linear_regression([t for t, _ in points], [m for _, m in points])
    return round(fit.slope * 3600, 1)


def windows(seen: Observed, args: argparse.Namespace) -> list[dict[str, Any]]:
    size = args.window * 60
    end = max([t for t, *_ in seen.requests] + [t for t, _ in seen.memory] + [0.0])
    rows = []
    for n in range(int(end // size) + 1):
        a, b = n * size, (n + 1) * size
        latencies = [s * 1000 for t, label, s, _ in seen.requests if a <= t < b]
        memory = [m for t, m in seen.memory if a <= t < b]
        if not latencies and not memory:
            continue
        rows.append(
            {
                "from_min": round(a / 60, 1),
                "to_min": round(min(b, end) / 60, 1),
                "requests": len(latencies),
                "errors": sum(1 for t, _l, _s, code in seen.requests if a <= t < b and code != 200),
                "p50_ms": round(percentile(latencies, 50) or 0, 1),
                "p99_ms": round(percentile(latencies, 99) or 0, 1),
                "uploads": sum(1 for t in seen.uploads if a <= t < b),
                "completed": sum(1 for t in seen.completions.values() if a <= t < b),
                "memory_mib": {
                    name: round(statistics.fmean(m[name] for m in memory), 1)
                    for name in (memory[0] if memory else {})
                },
            }
        )
    return rows


def report(
    args: argparse.Namespace, run: Run, seen: Observed, checks: dict[str, Any]
) -> dict[str, Any]:
    rows = windows(seen, args)
    warm = args.warmup * 60
    names = list(seen.memory[0][1]) if seen.memory else []
    memory = {}
    for name in names:
        after = [(t, m[name]) for t, m in seen.memory if t >= warm]
        values = [v for _, v in after]
        memory[name] = {
            "after_warmup_first_mib": values[0] if values else None,
            "last_mib": values[-1] if values else None,
            "max_mib": max(values) if values else None,
            "slope_mib_per_hour": slope_mib_per_hour(after),
        }
    full = [r for r in rows if r["to_min"] - r["from_min"] >= args.window * 0.99]
    first_p99 = full[0]["p99_ms"] if full else None
    last_p99 = full[-1]["p99_ms"] if full else None
    duplicated = (
        len(checks["meetings_without_exactly_one_applied_completion"])
        + len(checks["jobs_completed_other_than_once"])
        + len(checks["jobs_started_other_than_once"])
    )
    return {
        "command": f"python -m benchmarks.soak --minutes {args.minutes}",
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": round(os.getloadavg()[0], 2),
        },
        "config": {
            k: getattr(args, k)
            for k in (
                "minutes",
                "upload_interval",
                "max_backlog",
                "read_rate",
                "sample_interval",
                "window",
                "warmup",
            )
        },
        "requests": len(seen.requests),
        "windows": rows,
        "memory": memory,
        "p99_first_window_ms": first_p99,
        "p99_last_window_ms": last_p99,
        "p99_last_over_first": round(last_p99 / first_p99, 2) if first_p99 and last_p99 else None,
        "jobs": {**checks, "duplicated": duplicated, "timed_out": run.timed_out},
        "read_errors": run.read_errors,
        "upload_errors": run.upload_errors,
        "ok": checks["lost"] == 0 and duplicated == 0 and not run.timed_out,
    }


def markdown(result: dict[str, Any]) -> str:
    names = list(result["memory"])
    head = "| window (min) | requests | p50 / p99 ms | uploads | completed | " + " | ".join(
        f"{n} MiB" for n in names
    )
    lines = [head + " |", "|" + "---|" * (5 + len(names))]
    for row in result["windows"]:
        mem = " | ".join(str(row["memory_mib"].get(n, "")) for n in names)
        lines.append(
            f"| {row['from_min']}–{row['to_min']} | {row['requests']} | {row['p50_ms']} / "
            f"{row['p99_ms']} | {row['uploads']} | {row['completed']} | {mem} |"
        )
    trend = ", ".join(f"{n} {m['slope_mib_per_hour']} MiB/h" for n, m in result["memory"].items())
    jobs = result["jobs"]
    lines += [
        "",
        f"Memory trend after warm-up: {trend}. p99 last/first window: "
        f"{result['p99_last_over_first']}. Jobs: {jobs['uploaded']} uploaded, "
        f"{jobs['completed']} completed, {jobs['failed']} failed, {jobs['lost']} lost, "
        f"{jobs['duplicated']} done twice; queues after {jobs['queues_after']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=32.0)
    parser.add_argument("--upload-interval", type=float, default=15.0)
    parser.add_argument("--max-backlog", type=int, default=3)
    parser.add_argument("--read-rate", type=float, default=4.0, help="reader loops per second")
    parser.add_argument("--sample-interval", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=5.0, help="minutes per report window")
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes left out of trends")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--output", type=Path, default=RESULTS / "soak.json")
    args = parser.parse_args()

    with started_system("soak", 1, {"MINUTA_RATE_LIMIT_ENABLED": "false"}) as system:
        (worker,) = system.workers
        assert system.s3.process is not None
        pids = {"api": system.api.pid, "worker": worker.pid, "s3": system.s3.process.pid}
        run, seen = asyncio.run(soak(system.api.url, system.key, recordings(), pids, args))
        time.sleep(2)  # a duplicate completion, if any, would be applied by now
        checks = check_jobs(system.stack, run, system.workers)
        result = report(args, run, seen, checks)

    publish(result, markdown(result), args.output)


if __name__ == "__main__":
    main()
