"""Client-supplied file names, made harmless for display and for Content-Disposition headers.

A client's file name is only ever a label: recordings are stored under keys built from ids
(`services.api.meetings.audio_key`), so no name reaches a path or an object key. Still, a label
is shown in the web UI and sent back in headers, so it loses its directories, control and bidi
characters (a U+202E can make "txt.exe" read "exe.txt"), and its excess length.
"""

from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath
from urllib.parse import quote

MAX_NAME_CHARS = 255
FALLBACK_NAME = "recording"
# Cc: control (NUL, newline, escape...); Cf: format (bidi overrides, zero-width joiners...);
# Cs/Co/Cn: surrogates, private use, unassigned; Zl/Zp: line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def safe_display_name(raw: str | None, fallback: str = FALLBACK_NAME) -> str:
    """The base name of `raw` without invisible or control characters, at most 255 chars."""
    if not raw:
        return fallback
    # Some clients send a whole path, Windows ones with backslashes: keep the last part.
    base = PurePosixPath(raw.replace("\\", "/")).name
    visible = "".join(c for c in base if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    cleaned = " ".join(visible.split())  # no runs of odd whitespace
    if not cleaned.strip("."):  # "", ".", "..", "....": not a name
        return fallback
    if len(cleaned) <= MAX_NAME_CHARS:
        return cleaned
    suffix = PurePosixPath(cleaned).suffix
    suffix = suffix if len(suffix) <= 16 else ""  # cut the stem, keep a real extension
    return cleaned[: MAX_NAME_CHARS - len(suffix)] + suffix


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    kept = "".join(c if c.isalnum() or c in "-_." else "_" for c in decomposed)
    return kept.strip("_. ")


def ascii_filename(name: str, fallback: str) -> str:
    """A conservative ASCII version of `name` for the plain `filename=` parameter; `fallback`
    stands in for a stem with nothing ASCII left (the extension is kept)."""
    path = PurePosixPath(name)
    suffix = path.suffix if path.suffix and _ascii(path.suffix) == path.suffix[1:] else ""
    stem = _ascii(name[: len(name) - len(suffix)]) or _ascii(fallback) or "download"
    return stem[: MAX_NAME_CHARS - len(suffix)] + suffix


def content_disposition(name: str, *, fallback: str = "download") -> str:
    """`attachment` with an ASCII filename and, when that lost something, the RFC 6266
    `filename*` in UTF-8 (so a Cyrillic title survives without breaking the header)."""
    display = safe_display_name(name, fallback)
    plain = ascii_filename(display, fallback)
    header = f'attachment; filename="{plain}"'
    if plain != display:
        header += f"; filename*=UTF-8''{quote(display, safe='')}"
    return header
