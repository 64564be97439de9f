"""Fetch a job's recording from its presigned URL to a local file, streamed and size-limited.

Transport errors, timeouts, 429 and 5xx are retried with backoff and then reported as
`TransientDownloadError` (the job is retried later); any other 4xx and an oversized file are
`BadDownloadError` (the job fails for good). Messages never show the URL's query string: the
signature in it is a credential.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024


class _HideQueryStrings(logging.Filter):
    """httpx logs every request's full URL at INFO; a presigned URL's query is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                safe_url(str(arg)) + "?…" if isinstance(arg, httpx.URL) and arg.query else arg
                for arg in record.args
            )
        return True


_httpx_log = logging.getLogger("httpx")
if not any(isinstance(f, _HideQueryStrings) for f in _httpx_log.filters):
    _httpx_log.addFilter(_HideQueryStrings())


class DownloadError(Exception):
    pass


class BadDownloadError(DownloadError):
    """Asking again cannot help: the link is refused or gone, or the file is too large."""


class JobOverError(DownloadError):
    """The API answered 410: the job's meeting no longer waits for it (another delivery of the
    same job already finished it, or the meeting was deleted). Nothing is left to do."""


class TransientDownloadError(DownloadError):
    """The storage did not answer well this time; a later attempt may succeed."""


class _Retry(Exception):
    pass


def safe_url(url: str) -> str:
    return url.split("?", 1)[0]


def _too_large(limit: int) -> BadDownloadError:
    return BadDownloadError(
        f"the recording is larger than the {limit / 1e9:.1f} GB limit (MINUTA_DOWNLOAD_MAX_BYTES)"
    )


async def download(
    url: str,
    dest: Path,
    *,
    max_bytes: int,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    attempts: int = 3,
    backoff: float = 1.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Download `url` to `dest`; returns the number of bytes written."""
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=True, transport=transport
    ) as client:
        for attempt in range(1, attempts + 1):
            try:
                return await _fetch(client, url, dest, max_bytes)
            except _Retry as exc:
                reason = str(exc)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            dest.unlink(missing_ok=True)
            if attempt == attempts:
                raise TransientDownloadError(
                    f"could not download the recording from {safe_url(url)} after {attempts} "
                    f"attempts: {reason}"
                )
            delay = backoff * 2 ** (attempt - 1)
            log.warning("download attempt %d failed (%s); again in %.1f s", attempt, reason, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def _fetch(client: httpx.AsyncClient, url: str, dest: Path, max_bytes: int) -> int:
    async with client.stream("GET", url) as response:
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status}")
        if status == 410:
            raise JobOverError(f"the job is over: HTTP 410 from {safe_url(url)}")
        if status >= 400:
            hint = " (the link may have expired)" if status in (401, 403) else ""
            raise BadDownloadError(
                f"the recording could not be downloaded: HTTP {status}{hint} from {safe_url(url)}"
            )
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise _too_large(max_bytes)
        written = 0
        with dest.open("wb") as sink:
            async for chunk in response.aiter_bytes(_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise _too_large(max_bytes)
                sink.write(chunk)
        if length is not None and length.isdigit() and written != int(length):
            raise _Retry(f"connection ended after {written} of {length} bytes")
        return written
