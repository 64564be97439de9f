"""Bots as OpenStack servers (openstacksdk): one server per bot, deleted when the bot ends.

cloud-init writes the spec (mode 0600) and runs the bot; the server powers off afterwards, which
the controller sees as the runner's end and then deletes the server.
"""

from __future__ import annotations

import base64
from typing import Any

import yaml

from services.bots.contracts import BotSpec
from services.bots.controller.backends.base import BackendError, RunnerHandle
from services.bots.controller.settings import ControllerSettings

NAME = "openstack"
SPEC_PATH = "/etc/minuta-bot/spec.json"
# A server in one of these is still (or about to be) running the bot.
_RUNNING = {"ACTIVE", "BUILD", "REBUILD", "REBOOT", "HARD_REBOOT", "PASSWORD", "RESIZE"}


def connect(settings: ControllerSettings) -> Any:
    import openstack

    if settings.bot_os_cloud:
        return openstack.connect(cloud=settings.bot_os_cloud)
    password = settings.bot_os_password.get_secret_value() if settings.bot_os_password else None
    return openstack.connect(
        auth_url=settings.bot_os_auth_url,
        username=settings.bot_os_username,
        password=password,
        project_name=settings.bot_os_project_name,
        user_domain_name=settings.bot_os_user_domain_name,
        project_domain_name=settings.bot_os_project_domain_name,
        region_name=settings.bot_os_region_name,
    )


def cloud_init(spec: BotSpec, command: list[str]) -> str:
    config = {
        "write_files": [
            {
                "path": SPEC_PATH,
                "permissions": "0600",
                "encoding": "b64",
                "content": base64.b64encode(spec.model_dump_json().encode()).decode(),
            }
        ],
        "runcmd": [[*command, "--spec-file", SPEC_PATH]],
        # The bot has ended: stop the machine; the controller then deletes it.
        "power_state": {"mode": "poweroff", "condition": True},
    }
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


class OpenStackBackend:
    name = NAME

    def __init__(self, settings: ControllerSettings, connection: Any | None = None) -> None:
        missing = [
            name
            for name in ("bot_os_image_id", "bot_os_flavor_id", "bot_os_network_id")
            if not getattr(settings, name)
        ]
        if missing:
            raise ValueError(
                "the OpenStack backend needs " + ", ".join(f"MINUTA_{m.upper()}" for m in missing)
            )
        self.settings = settings
        self._conn = connection if connection is not None else connect(settings)

    def launch(self, spec: BotSpec) -> RunnerHandle:
        from openstack import exceptions

        s = self.settings
        user_data = base64.b64encode(cloud_init(spec, s.bot_os_command).encode()).decode()
        options: dict[str, Any] = {
            "name": f"minuta-bot-{spec.bot_id}",
            "image_id": s.bot_os_image_id,
            "flavor_id": s.bot_os_flavor_id,
            "networks": [{"uuid": s.bot_os_network_id}],
            "user_data": user_data,
            "metadata": {"minuta-bot-id": str(spec.bot_id)},
        }
        if s.bot_os_key_name:
            options["key_name"] = s.bot_os_key_name
        try:
            server = self._conn.compute.create_server(**options)
        except exceptions.SDKException as exc:
            raise BackendError(f"OpenStack refused the bot's server: {exc}") from exc
        return RunnerHandle(NAME, str(server.id))

    def is_alive(self, handle: RunnerHandle) -> bool:
        from openstack import exceptions

        try:
            server = self._conn.compute.get_server(handle.ref)
        except exceptions.NotFoundException:
            return False
        except exceptions.SDKException as exc:
            raise BackendError(f"cannot read server {handle.ref}: {exc}") from exc
        return str(server.status).upper() in _RUNNING

    def stop(self, handle: RunnerHandle) -> None:
        from openstack import exceptions

        try:
            self._conn.compute.delete_server(handle.ref, ignore_missing=True)
        except exceptions.SDKException as exc:
            raise BackendError(f"cannot delete server {handle.ref}: {exc}") from exc
