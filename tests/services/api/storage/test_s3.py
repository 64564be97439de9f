"""S3Storage against a real S3 server (SeaweedFS): parts, presigned URLs, credentials."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from services.api.storage.base import StorageError
from services.api.storage.s3 import S3Storage
from testkit.s3_server import S3Server
from tests.services.api.helpers import settings_from

pytestmark = pytest.mark.anyio

MIB = 1024 * 1024


def _storage(server: S3Server, bucket: str, secret: str | None = None, **kw: Any) -> S3Storage:
    values: dict[str, Any] = {
        "s3_bucket": bucket,
        "s3_endpoint_url": server.endpoint_url,
        "s3_access_key_id": server.access_key_id,
        "s3_secret_access_key": secret or server.secret_access_key,
        "s3_region": server.region,
        "s3_part_size_bytes": 5 * MIB,
        **kw,
    }
    return S3Storage.from_settings(settings_from(**values))


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture
async def storage(seaweedfs_s3: S3Server) -> S3Storage:
    store = _storage(seaweedfs_s3, f"storage-{uuid.uuid4().hex[:10]}")
    await store.ensure_ready()  # creates the bucket
    return store


async def test_small_and_multipart_uploads_round_trip_through_presigned_urls(
    storage: S3Storage,
) -> None:
    small = os.urandom(100_000)
    large = os.urandom(12 * MIB + 123)
    assert await storage.upload("a/small", _chunks(small), content_type="audio/wav") == len(small)
    assert await storage.upload("a/large", _chunks(large), content_type="audio/flac") == len(large)

    head = await asyncio.to_thread(
        storage._client.head_object, Bucket=storage.bucket, Key="a/large"
    )
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB parts
    assert head["ContentType"] == "audio/flac"

    async with httpx.AsyncClient() as client:
        for key, data in (("a/small", small), ("a/large", large)):
            url = await storage.presigned_get_url(key, expires_in=60)
            assert "X-Amz-Signature=" in url
            response = await client.get(url)
            assert response.status_code == 200
            assert response.content == data
        tampered = (await storage.presigned_get_url("a/small", expires_in=60)).replace(
            "X-Amz-Signature=", "X-Amz-Signature=0"
        )
        assert (await client.get(tampered)).status_code == 403
        other = (await storage.presigned_get_url("a/small", expires_in=60)).replace(
            "a/small", "a/large"
        )
        assert (await client.get(other)).status_code == 403


async def test_a_failing_stream_leaves_no_object_and_no_open_upload(storage: S3Storage) -> None:
    async def breaks_after_two_parts() -> AsyncIterator[bytes]:
        async for chunk in _chunks(os.urandom(11 * MIB)):
            yield chunk
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        await storage.upload("b/broken", breaks_after_two_parts(), content_type="audio/wav")
    client = storage._client
    listed = await asyncio.to_thread(client.list_objects_v2, Bucket=storage.bucket, Prefix="b/")
    uploads = await asyncio.to_thread(client.list_multipart_uploads, Bucket=storage.bucket)
    assert listed.get("KeyCount", 0) == 0
    assert uploads.get("Uploads", []) == []


async def test_delete_and_missing_objects(storage: S3Storage) -> None:
    await storage.upload("c/x", _chunks(b"RIFF...."), content_type="audio/wav")
    await storage.delete("c/x")
    await storage.delete("c/x")  # already gone: fine
    with pytest.raises(ClientError):
        await asyncio.to_thread(storage._client.head_object, Bucket=storage.bucket, Key="c/x")


async def test_key_prefix_is_applied(seaweedfs_s3: S3Server, storage: S3Storage) -> None:
    prefixed = _storage(seaweedfs_s3, storage.bucket, s3_key_prefix="tenant-files/")
    await prefixed.upload("k", _chunks(b"data"), content_type="audio/wav")
    head = await asyncio.to_thread(
        storage._client.head_object, Bucket=storage.bucket, Key="tenant-files/k"
    )
    assert head["ContentLength"] == 4


async def test_wrong_credentials_are_rejected(seaweedfs_s3: S3Server, storage: S3Storage) -> None:
    intruder = _storage(seaweedfs_s3, storage.bucket, secret="not-the-secret-at-all")
    with pytest.raises(StorageError):
        await intruder.check()
    with pytest.raises(StorageError):
        await intruder.upload("d/x", _chunks(b"RIFF"), content_type="audio/wav")
    async with httpx.AsyncClient() as client:
        url = await intruder.presigned_get_url("a/small", expires_in=60)
        assert (await client.get(url)).status_code == 403


async def test_unreachable_server_is_a_storage_error() -> None:
    values: dict[str, Any] = {
        "s3_bucket": "nowhere",
        "s3_endpoint_url": "http://127.0.0.1:9",
        "s3_access_key_id": "x",
        "s3_secret_access_key": "y",
    }
    settings = settings_from(**values)
    store = S3Storage.from_settings(settings)
    with pytest.raises(StorageError):
        await store.ensure_ready()


async def test_multipart_uploads_abandoned_by_a_crash_are_aborted_once_old(
    storage: S3Storage,
) -> None:
    client = storage._client
    started = await asyncio.to_thread(
        client.create_multipart_upload, Bucket=storage.bucket, Key=storage._key("c/crashed")
    )
    await asyncio.to_thread(
        client.upload_part,
        Bucket=storage.bucket,
        Key=storage._key("c/crashed"),
        UploadId=started["UploadId"],
        PartNumber=1,
        Body=os.urandom(5 * MIB),
    )
    assert await storage.abort_stale_uploads(3600) == 0  # young: may still be receiving
    await asyncio.sleep(1.5)
    assert await storage.abort_stale_uploads(1) == 1
    uploads = await asyncio.to_thread(client.list_multipart_uploads, Bucket=storage.bucket)
    assert uploads.get("Uploads", []) == []
