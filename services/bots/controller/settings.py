"""The meeting controller's section of the settings (core/settings.py), read from `MINUTA_*`
environment variables or `.env`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from core.settings import Section


def _default_bot_command() -> list[str]:
    return [sys.executable, "-m", "services.meeting_bot"]


class ControllerSettings(Section):
    # Run the controller loop in the API process (several API processes may all run it).
    bot_controller_enabled: bool = True
    # The API's URL as a bot reaches it; unset: the API's own public base URL.
    public_api_url: str | None = None
    bot_backend: Literal["local", "kubernetes", "openstack"] = "local"
    # Bots running at once (launching to uploading); due bots beyond it wait their turn.
    bot_concurrency: int = Field(default=4, ge=1)
    # Of those, at most this many of one tenant's (the rest of its due bots wait).
    bot_tenant_concurrency: int = Field(default=2, ge=1)
    bot_heartbeat_seconds: float = Field(default=10.0, gt=0)
    # A live bot silent for this many heartbeats is an orphan: failed(crashed), runner stopped.
    bot_orphan_heartbeats: float = Field(default=3.0, ge=1)
    # From launch to the first heartbeat (a container or VM may take a while to boot).
    bot_launch_timeout_seconds: float = Field(default=180.0, gt=0)
    # After `done`, how long the runner may take to exit by itself before it is stopped.
    bot_release_grace_seconds: float = Field(default=30.0, ge=0)
    bot_controller_poll_seconds: float = Field(default=2.0, gt=0)
    bot_admission_timeout_seconds: float = Field(default=600.0, gt=0)
    bot_alone_timeout_seconds: float = Field(default=60.0, gt=0)
    # Which addresses a calendar `ics_url` or a bot's page may reach: the API's egress policy
    # (MINUTA_EGRESS_ALLOW_CIDRS, services/egress), passed to each bot in its spec.

    # Local processes: the command (`--spec-file <json>` is appended); files under spec_dir.
    bot_command: list[str] = Field(default_factory=_default_bot_command)
    # Unset: <MINUTA_DATA_DIR>/bots.
    bot_spec_dir: Path | None = None

    # Kubernetes Jobs. Unset API URL: in-cluster config, else ~/.kube/config.
    bot_k8s_api_url: str | None = None
    bot_k8s_token: SecretStr | None = None
    bot_k8s_verify_tls: bool = True
    bot_k8s_namespace: str = "default"
    bot_k8s_image: str = "minuta-bot:latest"
    bot_k8s_ttl_seconds: int = Field(default=600, ge=0)
    bot_k8s_cpu: str = "1"
    bot_k8s_memory: str = "1Gi"
    # The bot container's user id: never root, so Chromium's sandbox stays on.
    bot_k8s_run_as_user: int = Field(default=10001, ge=1)

    # OpenStack servers (openstacksdk). Either a clouds.yaml entry or the auth fields.
    bot_os_cloud: str | None = None
    bot_os_auth_url: str | None = None
    bot_os_username: str | None = None
    bot_os_password: SecretStr | None = None
    bot_os_project_name: str | None = None
    bot_os_user_domain_name: str = "Default"
    bot_os_project_domain_name: str = "Default"
    bot_os_region_name: str | None = None
    # IDs (not names): an image with Minuta and Chromium installed, a flavor, a network.
    bot_os_image_id: str | None = None
    bot_os_flavor_id: str | None = None
    bot_os_network_id: str | None = None
    bot_os_key_name: str | None = None
    # Run by cloud-init on the server, `--spec-file <path>` appended; the server powers off after.
    bot_os_command: list[str] = Field(
        default_factory=lambda: ["python3", "-m", "services.meeting_bot"]
    )

    def resolved_spec_dir(self, data_dir: Path) -> Path:
        return self.bot_spec_dir or data_dir / "bots"

    @property
    def orphan_after_seconds(self) -> float:
        return self.bot_orphan_heartbeats * self.bot_heartbeat_seconds
