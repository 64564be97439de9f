"""docker-compose.yml and the RabbitMQ definitions, checked by the real tools that read them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"api", "ml-controller", "vllm", "rabbitmq", "postgres", "qdrant", "minio"}


def _compose_config(*profiles: str) -> dict[str, object]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/install.sh installs it)")
    args = ["docker-compose", "-f", str(REPO / "docker-compose.yml")]
    for profile in profiles:
        args += ["--profile", profile]
    done = subprocess.run([*args, "config"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


def test_compose_has_every_service_with_a_healthcheck() -> None:
    config = _compose_config("gpu")
    services = dict(config["services"])  # type: ignore[call-overload]
    assert set(services) >= SERVICES
    for name in SERVICES:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"


def test_vllm_only_in_the_gpu_profile() -> None:
    services = dict(_compose_config()["services"])  # type: ignore[call-overload]
    assert services["vllm"]["profiles"] == ["gpu"]
    assert all("profiles" not in services[name] for name in SERVICES - {"vllm"})


def test_worker_gets_no_database_or_storage_credentials() -> None:
    services = dict(_compose_config()["services"])  # type: ignore[call-overload]
    env = dict(services["ml-controller"]["environment"])
    assert not any(key.startswith(("MINUTA_DATABASE", "MINUTA_S3")) for key in env)
    assert env["MINUTA_BROKER_URL"].startswith("amqp://")


def test_rabbitmq_accepts_the_definitions() -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl is not on this machine")
    definitions = REPO / "infra" / "rabbitmq" / "definitions.json"
    imported = subprocess.run(
        [ctl, "import_definitions", str(definitions)], capture_output=True, text=True
    )
    try:
        assert imported.returncode == 0, imported.stderr
        vhosts = subprocess.run(
            [ctl, "list_vhosts", "--silent"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert "minuta" in vhosts
        policies = subprocess.run(
            [ctl, "list_policies", "-p", "minuta", "--silent"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "minuta-dead-letters-bounded" in policies
    finally:
        subprocess.run([ctl, "delete_vhost", "minuta"], capture_output=True)
        subprocess.run([ctl, "delete_user", "minuta"], capture_output=True)


def test_speculative_decoding_overlay_keeps_the_config_and_adds_ngram() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/install.sh installs it)")
    overlay = REPO / "infra" / "vllm" / "speculative.compose.yml"
    args = ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "-f", str(overlay)]
    done = subprocess.run([*args, "--profile", "gpu", "config"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    command = list(yaml.safe_load(done.stdout)["services"]["vllm"]["command"])
    assert command[:2] == ["--config", "/etc/minuta/vllm.yaml"]
    speculative = json.loads(command[command.index("--speculative-config") + 1])
    assert speculative["method"] == "ngram"
    assert speculative["num_speculative_tokens"] > 0
    served = yaml.safe_load((REPO / "infra" / "vllm" / "vllm.yaml").read_text())
    assert served["enable-lora"] is True
    assert {m.split("=")[0] for m in served["lora-modules"]} == {
        "summary",
        "action-items",
        "topics",
    }
