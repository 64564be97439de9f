"""llama-cpp-python's OpenAI-compatible server as a real peer for the tests (vLLM's protocol).

vLLM cannot run on this CPU-only machine; this server speaks the same chat protocol.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.processes import free_port

__all__ = ["free_port", "llama_server"]


def llama_server(arguments: list[str], port: int, log_path: Path) -> Iterator[str]:
    """Run llama_cpp.server with `arguments` (which make it listen on `port`); yield its /v1 URL."""
    command = [sys.executable, "-m", "llama_cpp.server", *arguments]
    url = f"http://127.0.0.1:{port}"
    # A file, not a pipe: the server logs more than a pipe buffer holds and would block.
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | {"HF_HUB_OFFLINE": "1"},
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {tail}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start within 180 s; log: {log_path}")
            time.sleep(0.5)
        yield url + "/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
