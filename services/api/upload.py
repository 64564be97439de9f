"""A multipart/form-data body read as it arrives, the file part handed on chunk by chunk.

Starlette's own form parsing spools the whole file to a temporary file before the endpoint runs;
this reader lets the endpoint sniff the first bytes, stream the rest to storage and stop at the
size limit without ever holding or spooling the recording.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from services.api.security.filenames import safe_display_name

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32


class UploadError(Exception):
    """A request the client must fix; `status_code` and a message for a person."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UploadTooLargeError(UploadError):
    status_code = 413


class UnsupportedBodyError(UploadError):
    status_code = 415


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.3g} {unit}"


def too_large(limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(
        f"The recording is larger than the limit of {human_size(limit)}. "
        "Split it or compress it (e.g. to Opus or MP3) and upload again."
    )


@dataclass(frozen=True)
class FilePart:
    field_name: str
    filename: str
    # As the client declared it; informational only, the content is sniffed.
    declared_type: str


class _Part:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.name = ""
        self.filename: str | None = None
        self.data = bytearray()


class MultipartReader:
    """Iterate `next_file()` then `file_chunks()`; form fields before and after are collected."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        content_type: str,
        *,
        max_file_bytes: int,
        file_field: str = "file",
    ) -> None:
        media_type, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if media_type != b"multipart/form-data" or not boundary:
            raise UnsupportedBodyError(
                "Send the recording as multipart/form-data with the audio in the "
                f"'{file_field}' field."
            )
        self._body = body
        self._max_file_bytes = max_file_bytes
        self._file_field = file_field
        self._events: deque[tuple[str, Any]] = deque()
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._file_seen = False
        self._done = False
        self.fields: dict[str, str] = {}
        self.file: FilePart | None = None
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                },
            )
        except MultipartParseError as exc:
            raise UploadError(f"The multipart body cannot be read: {exc}") from exc

    # Parser callbacks: they only queue events; the async side acts on them.
    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_name.decode("latin-1").lower()
        self._part.headers[name] = self._header_value.decode("latin-1")
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._part.headers.get("content-disposition"))
        if b"name" not in options:
            raise UploadError("A form part has no name in its Content-Disposition header.")
        self._part.name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            self._part.filename = options[b"filename"].decode("utf-8", "replace")
            self._events.append(("file", self._part))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.filename is not None:
            self._events.append(("data", data[start:end]))
            return
        if len(self._part.data) + (end - start) > MAX_FIELD_BYTES:
            raise UploadError(f"The form field '{self._part.name}' is too long.")
        self._part.data += data[start:end]

    def _on_part_end(self) -> None:
        if self._part.filename is not None:
            self._events.append(("file_end", None))
            return
        if len(self.fields) >= MAX_FIELDS:
            raise UploadError("The form has too many fields.")
        try:
            self.fields[self._part.name] = self._part.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UploadError(f"The form field '{self._part.name}' is not UTF-8 text.") from exc

    async def _next_event(self) -> tuple[str, Any] | None:
        while not self._events:
            if self._done:
                return None
            try:
                chunk = await anext(self._body, None)
                if chunk is None:
                    self._parser.finalize()
                    self._done = True
                elif chunk:
                    self._parser.write(chunk)
            except MultipartParseError as exc:
                raise UploadError(f"The multipart body cannot be read: {exc}") from exc
            except ClientDisconnect as exc:
                raise UploadError("The upload was interrupted before it was complete.") from exc
        return self._events.popleft()

    async def next_file(self) -> FilePart | None:
        """Read up to the file part's data; None when the body has no file."""
        while (event := await self._next_event()) is not None:
            kind, value = event
            if kind != "file":
                continue  # no data comes before a file part; fields are collected already
            part: _Part = value
            if part.name != self._file_field:
                raise UploadError(
                    f"Unexpected file in the form field '{part.name}'; "
                    f"send the recording in the '{self._file_field}' field."
                )
            self.file = FilePart(
                field_name=part.name,
                # A label only: no directories, control or bidi characters ("" if none left).
                filename=safe_display_name(part.filename, fallback=""),
                declared_type=part.headers.get("content-type", ""),
            )
            self._file_seen = True
            return self.file
        return None

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes; raises UploadTooLargeError past the limit. Reads the body to its end
        so that fields sent after the file are in `fields` once this is exhausted."""
        if not self._file_seen:
            raise RuntimeError("call next_file() first")
        size = 0
        in_file = True
        while (event := await self._next_event()) is not None:
            kind, value = event
            if kind == "data" and in_file:
                size += len(value)
                if size > self._max_file_bytes:
                    raise too_large(self._max_file_bytes)
                yield value
            elif kind == "file_end":
                in_file = False
            elif kind == "file":
                raise UploadError("Send one recording per request.")
        if in_file:
            # The body ended without the closing boundary: a cut-off transfer, not a recording.
            raise UploadError("The upload ended before the file was complete; send it again.")


async def peek(chunks: AsyncIterator[bytes], size: int) -> tuple[bytes, AsyncIterator[bytes]]:
    """The first `size` bytes (fewer if the stream is shorter), and the whole stream again."""
    taken: list[bytes] = []
    length = 0
    async for chunk in chunks:
        taken.append(chunk)
        length += len(chunk)
        if length >= size:
            break

    async def replay() -> AsyncIterator[bytes]:
        for chunk in taken:
            yield chunk
        async for chunk in chunks:
            yield chunk

    return b"".join(taken)[:size], replay()
