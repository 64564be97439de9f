"""Where recordings live: S3 (any S3-protocol server) or a local folder for `minuta serve`."""

from services.api.storage.base import Storage, StorageError
from services.api.storage.factory import build_storage
from services.api.storage.local import LocalStorage
from services.api.storage.s3 import S3Storage

__all__ = ["LocalStorage", "S3Storage", "Storage", "StorageError", "build_storage"]
