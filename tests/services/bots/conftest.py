"""The bot tests run on the API's stack: its fixtures, re-exported so pytest finds them here."""

from testkit.postgres import postgres_url
from testkit.s3_server import seaweedfs_s3
from tests.services.api.conftest import (
    anyio_backend,
    api_settings,
    audio_dir,
    backend,
    migrated_postgres,
    results_dir,
    s3_bucket,
    stack,
)

__all__ = [
    "anyio_backend",
    "api_settings",
    "audio_dir",
    "backend",
    "migrated_postgres",
    "postgres_url",
    "results_dir",
    "s3_bucket",
    "seaweedfs_s3",
    "stack",
]
