"""LocalStorage: atomic writes in a folder and HMAC-signed expiring URLs."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from services.api.storage.base import StorageError
from services.api.storage.local import LocalStorage
from services.api.storage.signing import UrlSigner, load_signing_secret
from tests.services.api.helpers import settings_from

pytestmark = pytest.mark.anyio


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.fixture
async def storage(tmp_path: Path) -> LocalStorage:
    store = LocalStorage(
        tmp_path / "files", signer=UrlSigner(b"k" * 32), public_base_url="http://api.local:8000/"
    )
    await store.ensure_ready()
    return store


async def test_upload_presign_delete(storage: LocalStorage) -> None:
    size = await storage.upload("t/m/audio", _chunks(b"RIFF", b"1234"), content_type="audio/wav")
    assert size == 8
    assert (storage.root / "t/m/audio").read_bytes() == b"RIFF1234"

    url = urlsplit(await storage.presigned_get_url("t/m/audio", expires_in=60))
    assert (url.scheme, url.netloc, url.path) == (
        "http",
        "api.local:8000",
        "/internal/files/t/m/audio",
    )
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert storage.signer.verify("t/m/audio", int(query["expires"]), query["signature"])
    assert not storage.signer.verify("t/m/other", int(query["expires"]), query["signature"])
    assert not storage.signer.verify(
        "t/m/audio", int(query["expires"]), query["signature"], now=int(query["expires"]) + 1
    )
    await storage.delete("t/m/audio")
    await storage.delete("t/m/audio")
    assert not (storage.root / "t/m/audio").exists()


async def test_a_failing_stream_leaves_no_file(storage: LocalStorage) -> None:
    async def breaks() -> AsyncIterator[bytes]:
        yield b"RIFF"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await storage.upload("t/x/audio", breaks(), content_type="audio/wav")
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []


async def test_keys_cannot_escape_the_folder(storage: LocalStorage) -> None:
    for key in ("../outside", "a/../../outside", "/etc/passwd", ""):
        with pytest.raises(StorageError):
            storage.path_for(key)


def test_signing_secret_is_created_once_and_shared(tmp_path: Path) -> None:
    settings = settings_from(data_dir=tmp_path)
    first = load_signing_secret(settings)
    assert len(first) >= 32
    assert load_signing_secret(settings) == first
    assert (tmp_path / "signing.key").stat().st_mode & 0o077 == 0
    configured = settings_from(data_dir=tmp_path, signing_secret=SecretStr("s" * 40))
    assert load_signing_secret(configured) == b"s" * 40


async def test_partial_files_left_by_a_crash_are_removed_once_old(storage: LocalStorage) -> None:
    folder = storage.path_for("t/m/recording").parent
    folder.mkdir(parents=True)
    old = folder / ".recording.dead.partial"
    young = folder / ".recording.busy.partial"
    kept = folder / "recording"
    for path in (old, young, kept):
        path.write_bytes(b"RIFF")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(kept, (time.time() - 7200, time.time() - 7200))
    assert await storage.abort_stale_uploads(3600) == 1
    assert not old.exists() and young.exists() and kept.exists()
