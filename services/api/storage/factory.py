"""The storage the settings ask for."""

from __future__ import annotations

from services.api.settings import ApiSettings
from services.api.storage.base import Storage
from services.api.storage.local import LocalStorage
from services.api.storage.s3 import S3Storage
from services.api.storage.signing import UrlSigner, load_signing_secret


def build_storage(settings: ApiSettings) -> Storage:
    if settings.uses_s3:
        return S3Storage.from_settings(settings)
    return LocalStorage(
        settings.storage_dir,
        signer=UrlSigner(load_signing_secret(settings)),
        public_base_url=settings.resolved_public_base_url,
    )
