"""Recordings in S3 (AWS, MinIO, SeaweedFS…) through boto3, uploaded part by part."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.api.settings import ApiSettings
from services.api.storage.base import StorageError

MIN_PART_SIZE = 5 * 1024 * 1024


def make_s3_client(
    *,
    endpoint_url: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
    region: str,
    addressing_style: str = "path",
) -> Any:
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
        config=config,
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Storage:
    def __init__(
        self,
        *,
        client: Any,
        bucket: str,
        presign_client: Any | None = None,
        part_size: int = 8 * 1024 * 1024,
        key_prefix: str = "",
        create_bucket: bool = False,
        region: str = "us-east-1",
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"S3 parts must be at least {MIN_PART_SIZE} bytes")
        self._client = client
        self._presign_client = presign_client or client
        self.bucket = bucket
        self.part_size = part_size
        self._prefix = key_prefix
        self._create_bucket = create_bucket
        self._region = region

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> S3Storage:
        if not settings.s3_bucket:
            raise ValueError("S3Storage needs MINUTA_S3_BUCKET")
        secret = settings.s3_secret_access_key
        common: dict[str, Any] = {
            "access_key_id": settings.s3_access_key_id,
            "secret_access_key": secret.get_secret_value() if secret else None,
            "region": settings.s3_region,
            "addressing_style": settings.s3_addressing_style,
        }
        client = make_s3_client(endpoint_url=settings.s3_endpoint_url, **common)
        presign_client = (
            make_s3_client(endpoint_url=settings.s3_presign_endpoint_url, **common)
            if settings.s3_presign_endpoint_url
            else None
        )
        return cls(
            client=client,
            presign_client=presign_client,
            bucket=settings.s3_bucket,
            part_size=settings.s3_part_size_bytes,
            key_prefix=settings.s3_key_prefix,
            create_bucket=settings.s3_create_bucket,
            region=settings.s3_region,
        )

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"S3 {method} failed: {exc}") from exc

    async def ensure_ready(self) -> None:
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound") or (
                not self._create_bucket
            ):
                raise StorageError(f"S3 bucket {self.bucket!r} is not usable: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 is unreachable: {exc}") from exc
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        await self._call("create_bucket", **kwargs)

    async def check(self) -> None:
        await self._call("head_bucket", Bucket=self.bucket)

    async def upload(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        key = self._key(key)
        part = bytearray()
        total = 0
        upload_id: str | None = None
        etags: list[dict[str, Any]] = []

        async def send_part(body: bytearray) -> None:
            nonlocal upload_id
            if upload_id is None:
                created = await self._call(
                    "create_multipart_upload", Bucket=self.bucket, Key=key, ContentType=content_type
                )
                upload_id = str(created["UploadId"])
            number = len(etags) + 1
            answer = await self._call(
                "upload_part",
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
            )
            etags.append({"ETag": answer["ETag"], "PartNumber": number})

        try:
            async for chunk in chunks:
                total += len(chunk)
                view = memoryview(chunk)
                # Fill the part to exactly part_size, hand it to boto3, start a fresh one:
                # memory stays at one part plus one chunk whatever the file's size.
                while len(view):
                    take = min(len(view), self.part_size - len(part))
                    part += view[:take]
                    view = view[take:]
                    if len(part) == self.part_size:
                        await send_part(part)
                        part = bytearray()
            if upload_id is None:
                await self._call(
                    "put_object",
                    Bucket=self.bucket,
                    Key=key,
                    Body=bytes(part),
                    ContentType=content_type,
                )
            else:
                if part:
                    await send_part(part)
                await self._call(
                    "complete_multipart_upload",
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": etags},
                )
        except BaseException:
            if upload_id is not None:
                # Shielded: a cancelled request must still not leave parts billed in the bucket.
                await asyncio.shield(self._abort(key, upload_id))
            raise
        return total

    async def _abort(self, key: str, upload_id: str) -> None:
        # Best effort: the bucket's lifecycle rules are the backstop for what remains.
        with contextlib.suppress(BotoCoreError, ClientError):
            await asyncio.to_thread(
                self._client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )

    async def presigned_get_url(self, key: str, *, expires_in: int) -> str:
        # Signing is local computation; no request goes to S3.
        url = self._presign_client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_in,
        )
        return str(url)

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=self._key(key))

    async def abort_stale_uploads(self, older_than_seconds: float) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        aborted = 0
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._prefix}
        while True:
            page = await self._call("list_multipart_uploads", **params)
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < cutoff:
                    await self._abort(upload["Key"], upload["UploadId"])
                    aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            params["KeyMarker"] = page.get("NextKeyMarker", "")
            params["UploadIdMarker"] = page.get("NextUploadIdMarker", "")
