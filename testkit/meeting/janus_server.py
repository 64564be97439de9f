"""A real Janus (Debian's `janus`, AudioBridge over HTTP) in a test-only network namespace.

Janus will not use loopback addresses, so it runs in its own namespace joined to this one by a
veth pair: this side is `host_ip`, Janus is at `janus_ip`. Browsers stay in the root namespace
and reach Janus over the veth. Everything is removed on close (process by its PID, namespace by
its name), so a failed test leaves nothing behind.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
JANUS_CONFIG = REPO / "infra" / "janus"
JANUS_PORT = 8088


class JanusUnavailable(RuntimeError):
    pass


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class JanusServer:
    namespace: str
    host_ip: str
    janus_ip: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def api_url(self) -> str:
        return f"http://{self.janus_ip}:{JANUS_PORT}/janus"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)


# Where start_janus() draws its /30s from: the bot's egress allow-list names it, as an
# on-premise install names its intranet.
JANUS_NETWORKS = "10.200.0.0/14"


def start_janus(log_dir: Path, timeout: float = 20.0) -> JanusServer:
    """Create the namespace and veth pair, start Janus inside and wait for its HTTP API."""
    if shutil.which("janus") is None:
        raise JanusUnavailable("janus not installed: apt-get install janus")
    if os.geteuid() != 0:
        raise JanusUnavailable("a network namespace for Janus needs root")
    tag = f"{os.getpid() % 10000}{random.randrange(100):02d}"
    namespace, host_if, ns_if = f"minuta-janus-{tag}", f"mjh{tag}", f"mjn{tag}"
    # A /30 per server, so parallel test sessions do not collide.
    block = random.randrange(1, 16000)
    base = f"10.{200 + block // 4096}.{(block // 16) % 256}.{(block % 16) * 16}"
    prefix, last = base.rsplit(".", 1)
    host_ip, janus_ip = f"{prefix}.{int(last) + 1}", f"{prefix}.{int(last) + 2}"
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", namespace)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", namespace, "addr", "add", f"{janus_ip}/30", "dev", ns_if)
        _ip("-n", namespace, "link", "set", ns_if, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        log_path = log_dir / "janus.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    namespace,
                    "janus",
                    "-C",
                    str(JANUS_CONFIG / "janus.jcfg"),
                    "-F",
                    str(JANUS_CONFIG),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
    except BaseException:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        raise
    server = JanusServer(namespace, host_ip, janus_ip, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            server.close()
            raise JanusUnavailable(f"janus exited: {log_path.read_text()[-2000:]}")
        try:
            reply = httpx.get(f"{server.api_url}/info", timeout=1.0)
            if reply.status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.close()
    raise JanusUnavailable(f"janus did not answer within {timeout} s: {log_path}")
