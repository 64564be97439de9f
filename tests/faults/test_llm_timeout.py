"""The LLM engine hangs: the job is retried, the user is told, and it completes once it answers.

A real llama-cpp-python server (the OpenAI-compatible protocol vLLM speaks) sits behind a TCP
proxy that first swallows every request without answering. The worker's engine times out, the
job fails as transient, the meeting shows the retry, and once the proxy forwards again the next
attempt writes real minutes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import SHORT, FaultDeployment, FaultReport
from tests.faults.tcp_proxy import TcpProxy
from tests.ml_controller.llm.engines import llm_settings, packaged_gguf
from tests.ml_controller.llm.llama_server import free_port, llama_server


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    threads = str(llm_settings().llm_threads or llm_settings().threads)
    arguments = [
        "--model", str(packaged_gguf()),
        "--model_alias", "minuta-minutes",
        "--n_ctx", "2048", "--n_threads", threads, "--n_threads_batch", threads,
        "--verbose", "False", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    log_path: Path = tmp_path_factory.mktemp("llm_timeout") / "server.log"
    yield from llama_server(arguments, port, log_path)


def test_llm_engine_timing_out(
    faults: FaultDeployment, fault_report: FaultReport, llm_url: str
) -> None:
    upstream = llm_url.removeprefix("http://").removesuffix("/v1")
    host, port = upstream.split(":")
    proxy = TcpProxy(host, int(port))
    proxy.blackhole()
    faults.workers.stop_shared()  # this worker must be the only one taking jobs
    worker = faults.workers.start(
        "llm-worker",
        MINUTA_LLM_ENGINE="openai",
        MINUTA_LLM_BASE_URL=f"http://{proxy.address}/v1",
        # Long enough for a real answer on a busy 2-core CPU; the hung attempt waits it out.
        MINUTA_LLM_TIMEOUT="60",
        MINUTA_LLM_CONNECT_TIMEOUT="2",
        MINUTA_LLM_MAX_RETRIES="0",
        MINUTA_LLM_MIN_WORDS="5",
        MINUTA_LLM_MAX_TOKENS="256",
    ).ready()
    client = faults.client()
    try:
        meeting = client.upload(SHORT, title="minutes through a hung LLM", language="en")["id"]
        retrying = client.wait(
            meeting,
            lambda m: bool(m["error"]) and "Retrying" in m["error"],
            300,
            "the retry note",
            watch=[worker],
        )
        assert retrying["status"] in ("queued", "processing"), retrying
        assert "transient failure" in worker.log()
        proxy.up()
        done = client.wait_finished(meeting, 600, watch=[worker])
        time.sleep(1.5)
        attempts = worker.log().count(f"job {faults.reader.job_id(meeting)} (attempt")
        verdict = fault_report.measure(
            "LLM engine (OpenAI protocol) hanging: requests time out",
            f"job failed as transient, meeting showed 'Retrying…'; completed with LLM "
            f"minutes once the engine answered ({attempts} attempts)",
            faults,
            [meeting],
        )
        assert verdict.lost == 0 and verdict.done_twice == 0, verdict
        assert done["status"] == "completed", done["error"]
        minutes = done["result"]["minutes"]
        assert minutes and minutes["summary"].strip(), minutes
        assert faults.dead_letters() == 0
    finally:
        client.close()
        proxy.close()
        with contextlib.suppress(AssertionError):
            worker.terminate(30)
        worker.close()
