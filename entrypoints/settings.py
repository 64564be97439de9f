"""The root of the settings: every section of a process, each built once and passed down.

A process (`minuta serve`, `api`, `worker`, a CLI command) calls `load()` once and hands each
part what it needs (`create_app(root.api, broker_settings=root.broker, ...)`). A section is read
from the environment (and `.env`) the first time it is asked for, then kept: a worker never
validates the API's variables, nor a CLI command those of the services it does not run. The
shared cache section is the one the ML and vector sections hold.

Where each section lives:
  telemetry  core.settings.TelemetrySettings         MINUTA_LOG_*, MINUTA_SENTRY_*
  cache      core.settings.CacheSettings             MINUTA_CACHE_DIR
  broker     core.messaging.settings.BrokerSettings  MINUTA_BROKER_URL, queues, retries
  api        services.api.settings.ApiSettings
  bots       services.bots.controller.settings.ControllerSettings  MINUTA_BOT_*
  ml         ml_controller.settings.MLSettings
  vectors    ml_controller.vectors.settings.VectorSettings  MINUTA_QDRANT_*
  worker     ml_controller.worker.settings.WorkerSettings   MINUTA_WORKER_*, MINUTA_DOWNLOAD_*
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from core.messaging.settings import BrokerSettings
from core.settings import CacheSettings, Section, TelemetrySettings

if TYPE_CHECKING:
    # Imported where a section is first built: a command that needs only the ML section does
    # not import the API's packages (nor the vector store's, whose package imports its client).
    from ml_controller.settings import MLSettings
    from ml_controller.vectors.settings import VectorSettings
    from ml_controller.worker.settings import WorkerSettings
    from services.api.settings import ApiSettings
    from services.bots.controller.settings import ControllerSettings

SECTION_NAMES = ("telemetry", "cache", "broker", "api", "bots", "ml", "vectors", "worker")


class Settings:
    """Every settings section of one process. A section may be replaced before it is passed
    down (`root.api = root.api.model_copy(update=...)` for a command-line option)."""

    @cached_property
    def telemetry(self) -> TelemetrySettings:
        return TelemetrySettings()

    @cached_property
    def cache(self) -> CacheSettings:
        return CacheSettings()

    @cached_property
    def broker(self) -> BrokerSettings:
        return BrokerSettings()

    @cached_property
    def api(self) -> ApiSettings:
        from services.api.settings import ApiSettings

        return ApiSettings()

    @cached_property
    def bots(self) -> ControllerSettings:
        from services.bots.controller.settings import ControllerSettings

        return ControllerSettings()

    @cached_property
    def ml(self) -> MLSettings:
        from ml_controller.settings import MLSettings

        return MLSettings(cache=self.cache)

    @cached_property
    def vectors(self) -> VectorSettings:
        from ml_controller.vectors.settings import VectorSettings

        return VectorSettings(cache=self.cache)

    @cached_property
    def worker(self) -> WorkerSettings:
        from ml_controller.worker.settings import WorkerSettings

        return WorkerSettings()

    def sections(self) -> dict[str, Section]:
        """Every section by name, each built now if it was not yet (a check of the whole
        configuration)."""
        return {name: getattr(self, name) for name in SECTION_NAMES}


def load() -> Settings:
    """The settings of this process: call once at its entry point and pass the sections down."""
    return Settings()
