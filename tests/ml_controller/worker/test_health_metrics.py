"""The worker's /metrics after real deliveries (MemoryBroker, stand-in pipeline): the real-time
factor of a completed job, and a poison job counted as a dead letter while the queue flows on."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from core.contracts import JobCompleted
from core.messaging.metrics import DEAD_LETTERS
from ml_controller.worker.health import HealthServer, new_health_state
from tests.ml_controller.worker.test_worker_inprocess import (
    FakePipeline,
    Setup,
    job_for,
    scenario,
    until,
)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_poison_jobs_are_counted_on_the_workers_endpoint_and_the_queue_flows(
    tmp_path: Path,
) -> None:
    malformed = DEAD_LETTERS.labels("jobs", "malformed")
    unknown = DEAD_LETTERS.labels("jobs", "unknown_contract")
    before = (malformed._value.get(), unknown._value.get())

    async def body(s: Setup) -> None:
        server = HealthServer(new_health_state(), s.metrics, "127.0.0.1", 0).start()
        try:
            jobs = s.broker.names.jobs.name
            s.broker.publish_raw(jobs, b"\x00\x01 not json")
            s.broker.publish_raw(jobs, b'{"version": 2, "kind": "process_meeting"}')
            job = job_for(s.server.add("/rec.wav", body=b"after the poison"))
            await s.broker.publish_job(job)
            await until(lambda: len(s.of(job, JobCompleted)) == 1)
            await asyncio.sleep(0.2)
            samples = await asyncio.to_thread(scrape, server.port)
        finally:
            server.stop()
        dead = "minuta_dead_letters_total"
        assert samples[(dead, (("queue", "jobs"), ("reason", "malformed")))] == before[0] + 1
        assert samples[(dead, (("queue", "jobs"), ("reason", "unknown_contract")))] == (
            before[1] + 1
        )
        depths = await s.broker.queue_depths()
        assert depths["jobs"] == 0 and depths["jobs_dead"] == 2
        assert len(await s.broker.take_dead_letters("jobs")) == 2
        # 10 s of audio in about 0.6 s: one observation, well under real time.
        assert samples[("minuta_worker_realtime_factor_count", ())] == 1
        rtf = samples[("minuta_worker_realtime_factor_sum", ())]
        assert 0.01 < rtf < 0.5
        assert (await s.broker.queue_depths())["jobs_dead"] == 0  # just taken

    scenario(tmp_path, FakePipeline(), body)
