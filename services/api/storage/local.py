"""Recordings in a local folder, for `minuta serve` on one machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterable
from pathlib import Path
from urllib.parse import quote, urlencode

from services.api.storage.base import StorageError
from services.api.storage.signing import UrlSigner

# The route that serves signed URLs (services.api.routes.files).
FILES_ROUTE = "/internal/files"


class LocalStorage:
    def __init__(self, root: Path, *, signer: UrlSigner, public_base_url: str) -> None:
        self.root = root.resolve()
        self.signer = signer
        self._base_url = public_base_url.rstrip("/")

    def path_for(self, key: str) -> Path:
        """The file of `key`; refuses keys that would leave the root folder."""
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageError(f"invalid object key {key!r}")
        return path

    async def ensure_ready(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the storage folder {self.root}: {exc}") from exc
        await self.check()

    async def check(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageError(f"the storage folder {self.root} is not writable")

    async def upload(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed at the end: a reader never sees half a file.
        partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        total = 0
        try:
            with partial.open("wb") as handle:
                async for chunk in chunks:
                    total += len(chunk)
                    await asyncio.to_thread(handle.write, chunk)
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return total

    async def presigned_get_url(self, key: str, *, expires_in: int) -> str:
        expires = int(time.time()) + expires_in
        query = urlencode({"expires": expires, "signature": self.signer.sign(key, expires)})
        return f"{self._base_url}{FILES_ROUTE}/{quote(key)}?{query}"

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def abort_stale_uploads(self, older_than_seconds: float) -> int:
        def sweep() -> int:
            cutoff = time.time() - older_than_seconds
            removed = 0
            for partial in self.root.rglob(".*.partial"):
                with contextlib.suppress(OSError):
                    if partial.stat().st_mtime < cutoff:
                        partial.unlink()
                        removed += 1
            return removed

        return await asyncio.to_thread(sweep)
