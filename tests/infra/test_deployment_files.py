"""docker-compose.yml and the RabbitMQ definitions, checked by the real tools that read them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"api", "ml-controller", "vllm", "rabbitmq", "postgres", "qdrant", "minio"}


def _empty_env_file() -> Path:
    """Given as --env-file, so a developer's own .env plays no part."""
    path = Path(tempfile.gettempdir()) / "minuta-tests-empty.env"
    path.write_text("")
    return path


def _secrets() -> dict[str, str]:
    """Every variable of .env.example, each with a distinct made-up value."""
    names = [
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    return {name: f"test-{name.lower()}-value" for name in names}


def _compose(*profiles: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/install.sh installs it)")
    args = ["docker-compose", "-f", str(REPO / "docker-compose.yml")]
    for profile in profiles:
        args += ["--profile", profile]
    # Only these variables (and PATH): the shell's own MINUTA_* or a local .env play no part.
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [*args, "--env-file", str(_empty_env_file()), "config"],
        capture_output=True,
        text=True,
        env=base | (_secrets() if env is None else env),
    )


def _compose_config(*profiles: str) -> dict[str, object]:
    done = _compose(*profiles)
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


def test_compose_refuses_to_start_without_each_secret() -> None:
    secrets = _secrets()
    for name in (
        "POSTGRES_PASSWORD",
        "RABBITMQ_API_PASSWORD",
        "RABBITMQ_WORKER_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "QDRANT_API_KEY",
        "MINUTA_METRICS_TOKEN",
        "GRAFANA_ADMIN_PASSWORD",
        "MINUTA_SIGNING_SECRET",
    ):
        done = _compose(env={k: v for k, v in secrets.items() if k != name})
        assert done.returncode != 0 and f"set {name} in .env" in done.stderr, name


def test_only_the_api_is_published_and_no_secret_is_written_in_the_file() -> None:
    services = dict(_compose_config("gpu")["services"])  # type: ignore[call-overload]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"api"}
    text = (REPO / "docker-compose.yml").read_text()
    for weak in ("minuta:minuta", "minuta-secret-key", ":-admin", "POSTGRES_PASSWORD: minuta"):
        assert weak not in text, weak
    rendered = json.dumps(services)
    for name, value in _secrets().items():
        if name in ("MINUTA_EGRESS_ALLOW_CIDRS", "MINUTA_SENTRY_DSN"):
            continue
        assert value in rendered, f"{name} is not used by any service"
    env = dict(services["api"]["environment"])
    assert env["MINUTA_BROKER_URL"].startswith("amqp://minuta-api:")
    worker = dict(services["ml-controller"]["environment"])
    assert worker["MINUTA_BROKER_URL"].startswith("amqp://minuta-worker:")


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
        for user in ("minuta-api", "minuta-worker"):
            subprocess.run([ctl, "delete_user", user], capture_output=True)


def test_speculative_decoding_overlay_keeps_the_config_and_adds_ngram() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/install.sh installs it)")
    overlay = REPO / "infra" / "vllm" / "speculative.compose.yml"
    args = ["docker-compose", "-f", str(REPO / "docker-compose.yml"), "-f", str(overlay)]
    done = subprocess.run(
        [*args, "--profile", "gpu", "--env-file", str(_empty_env_file()), "config"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]} | _secrets(),
    )
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
