"""The compute backend the settings ask for."""

from __future__ import annotations

from pathlib import Path

from services.bots.controller.backends.base import ComputeBackend
from services.bots.controller.backends.local import LocalProcessBackend
from services.bots.controller.settings import ControllerSettings


def build_backend(settings: ControllerSettings, data_dir: Path) -> ComputeBackend:
    if settings.bot_backend == "kubernetes":
        from services.bots.controller.backends.kubernetes_job import KubernetesJobBackend

        return KubernetesJobBackend(settings)
    if settings.bot_backend == "openstack":
        from services.bots.controller.backends.openstack_server import OpenStackBackend

        return OpenStackBackend(settings)
    return LocalProcessBackend(settings.bot_command, settings.resolved_spec_dir(data_dir))
