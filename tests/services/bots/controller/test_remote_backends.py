"""Kubernetes and OpenStack cannot run here: their backends are tested against a fake Kubernetes
API server (real `kubernetes` client over HTTP) and a fake openstacksdk connection."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from openstack import exceptions as os_exc

from services.bots.contracts import BotSpec
from services.bots.controller.backends.kubernetes_job import KubernetesJobBackend
from services.bots.controller.backends.openstack_server import OpenStackBackend
from services.bots.controller.settings import ControllerSettings
from tests.local_http import local_http_server


def _spec() -> BotSpec:
    return BotSpec(
        bot_id=uuid.uuid4(), meeting_url="https://x.test/r", api_url="http://api", bot_token="bt_s"
    )


class FakeKubernetes:
    """Jobs and Secrets of one namespace, as the API server's REST paths expose them."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, dict[str, Any]] = {}


@pytest.fixture
def fake_k8s() -> Iterator[tuple[str, FakeKubernetes]]:
    state = FakeKubernetes()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _store(self) -> tuple[dict[str, dict[str, Any]], str]:
            parts = self.path.split("?")[0].strip("/").split("/")
            kind = "jobs" if "jobs" in parts else "secrets"
            name = parts[parts.index(kind) + 1] if parts[-1] not in (kind,) else ""
            return (state.jobs if kind == "jobs" else state.secrets), name

        def do_POST(self) -> None:
            store, _ = self._store()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body["metadata"]["uid"] = str(uuid.uuid4())
            store[body["metadata"]["name"]] = body
            self._send(201, body)

        def do_GET(self) -> None:
            store, name = self._store()
            if name not in store:
                self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
            else:
                self._send(200, store[name])

        def do_DELETE(self) -> None:
            store, name = self._store()
            if store.pop(name, None) is None:
                self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
            else:
                self._send(200, {"kind": "Status", "status": "Success"})

        def log_message(self, *_: Any) -> None:
            pass

    with local_http_server(Handler) as url:
        yield url, state


def test_kubernetes_job_backend_against_a_fake_kubernetes_api(
    fake_k8s: tuple[str, FakeKubernetes],
) -> None:
    url, state = fake_k8s
    settings = ControllerSettings(  # type: ignore[call-arg]
        _env_file=None, bot_k8s_api_url=url, bot_k8s_namespace="bots", bot_k8s_image="bot:1"
    )
    backend = KubernetesJobBackend(settings)
    spec = _spec()
    handle = backend.launch(spec)
    name = f"minuta-bot-{spec.bot_id}"
    assert handle.ref == f"bots/{name}"
    job = state.jobs[name]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["ttlSecondsAfterFinished"] == 600
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "bot:1" and pod["restartPolicy"] == "Never"
    assert pod["volumes"][0]["secret"]["defaultMode"] == 0o400
    # Boxed: not root (Chromium's sandbox on), no privilege gain, no capabilities, no API token.
    boxed = pod["containers"][0]["securityContext"]
    assert boxed["runAsNonRoot"] is True and boxed["runAsUser"] == 10001
    assert boxed["allowPrivilegeEscalation"] is False and boxed["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "minuta-bot"
    secret = state.secrets[name]
    assert json.loads(secret["stringData"]["spec.json"])["bot_token"] == "bt_s"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]

    assert backend.is_alive(handle)
    job["status"] = {"failed": 1}  # the pod died
    assert not backend.is_alive(handle)
    backend.stop(handle)
    assert name not in state.jobs and name not in state.secrets
    assert not backend.is_alive(handle)
    backend.stop(handle)  # idempotent


class FakeCompute:
    def __init__(self) -> None:
        self.servers: dict[str, Any] = {}
        self.created: list[dict[str, Any]] = []

    def create_server(self, **options: Any) -> Any:
        server = SimpleNamespace(id=str(uuid.uuid4()), status="BUILD")
        self.servers[server.id] = server
        self.created.append(options)
        return server

    def get_server(self, server_id: str) -> Any:
        if server_id not in self.servers:
            raise os_exc.NotFoundException("no such server")
        return self.servers[server_id]

    def delete_server(self, server_id: str, ignore_missing: bool = False) -> None:
        if self.servers.pop(server_id, None) is None and not ignore_missing:
            raise os_exc.NotFoundException("no such server")


def test_openstack_backend_against_a_fake_openstack_connection() -> None:
    settings = ControllerSettings(  # type: ignore[call-arg]
        _env_file=None, bot_os_image_id="img", bot_os_flavor_id="flv", bot_os_network_id="net"
    )
    compute = FakeCompute()
    backend = OpenStackBackend(settings, connection=SimpleNamespace(compute=compute))
    spec = _spec()
    handle = backend.launch(spec)
    options = compute.created[0]
    assert options["image_id"] == "img" and options["flavor_id"] == "flv"
    assert options["networks"] == [{"uuid": "net"}]
    cloud = base64.b64decode(options["user_data"]).decode()
    assert cloud.startswith("#cloud-config\n")
    config = yaml.safe_load(cloud)
    written = config["write_files"][0]
    assert written["permissions"] == "0600"
    assert json.loads(base64.b64decode(written["content"]))["bot_id"] == str(spec.bot_id)
    assert config["power_state"]["mode"] == "poweroff"

    assert backend.is_alive(handle)
    compute.servers[handle.ref].status = "SHUTOFF"  # the bot ended and powered off
    assert not backend.is_alive(handle)
    backend.stop(handle)
    assert handle.ref not in compute.servers and not backend.is_alive(handle)

    with pytest.raises(ValueError, match="MINUTA_BOT_OS_IMAGE_ID"):
        OpenStackBackend(ControllerSettings(_env_file=None), connection=object())  # type: ignore[call-arg]
