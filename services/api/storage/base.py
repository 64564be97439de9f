"""The storage interface the API codes against."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Protocol


class StorageError(RuntimeError):
    """The storage backend failed or is unreachable."""


class Storage(Protocol):
    async def ensure_ready(self) -> None:
        """Create what is missing (bucket, folder) at startup; raise StorageError if unusable."""

    async def check(self) -> None:
        """Raise StorageError when the backend cannot be reached (readiness probe)."""

    async def upload(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        """Store the stream under `key` without holding it in memory; return its size.

        If `chunks` raises, nothing is left behind under `key` and the exception propagates.
        """

    async def presigned_get_url(self, key: str, *, expires_in: int) -> str:
        """A URL anyone holding it may GET the object from until it expires."""

    async def delete(self, key: str) -> None:
        """Remove the object; a missing object is not an error."""

    async def abort_stale_uploads(self, older_than_seconds: float) -> int:
        """Remove what uploads cut off by a crash left (S3 multipart parts, partial files), if
        started more than `older_than_seconds` ago; returns how many."""
