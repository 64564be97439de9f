"""What a recording is, judged from its first bytes: the filename and the client's header lie.

Containers are recognised by their magic numbers; a container that can hold video is accepted
because meeting recordings often come as video files whose audio track the pipeline decodes.
"""

from __future__ import annotations

from dataclasses import dataclass

# Enough for every signature below, including an Ogg page's codec header.
SNIFF_BYTES = 4096

SUPPORTED_DESCRIPTION = (
    "WAV, FLAC, MP3, AAC, Ogg (Vorbis, Opus, FLAC, Speex), WebM/Matroska, MP4/M4A/MOV/3GP, "
    "AIFF, AMR, WMA/ASF or CAF"
)


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    description: str


class NotAudioError(ValueError):
    """The bytes are not a recording we can read; the message is for a person."""


_ASF_GUID = bytes.fromhex("3026B2758E66CF11A6D900AA0062CE6C")
_MP4_BRANDS_AUDIO = (b"M4A ", b"M4B ", b"M4P ", b"F4A ")

# Leading bytes of things people upload by mistake, for a more helpful message.
_KNOWN_NOT_AUDIO: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive or an office document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
    (b"{\\rtf", "an RTF document"),
)


def _mpeg_frame(head: bytes, offset: int = 0) -> str | None:
    """'mp3' / 'aac' when an MPEG audio or ADTS frame header starts at `offset`."""
    if len(head) < offset + 4 or head[offset] != 0xFF or head[offset + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = head[offset + 1], head[offset + 2]
    layer = (b1 >> 1) & 0b11
    if (b1 & 0xF6) == 0xF0:
        return "aac"  # ADTS: 12-bit sync, layer 00
    if (b1 >> 3) & 0b11 == 0b01 or layer == 0:
        return None  # reserved version or layer
    bitrate, rate = b2 >> 4, (b2 >> 2) & 0b11
    if bitrate == 0b1111 or rate == 0b11:
        return None
    return "mp3"


def _ogg_codec(head: bytes) -> str | None:
    # The first page's packet starts after the 27-byte header and the segment table.
    if len(head) < 28:
        return None
    segments = head[26]
    packet = head[27 + segments : 27 + segments + 16]
    for marker, codec in (
        (b"OpusHead", "Opus"),
        (b"\x01vorbis", "Vorbis"),
        (b"\x7fFLAC", "FLAC"),
        (b"Speex   ", "Speex"),
    ):
        if packet.startswith(marker):
            return codec
    return None


def sniff(head: bytes) -> Sniffed:
    """The recording's type from its first bytes (pass at least SNIFF_BYTES when there are)."""
    if not head:
        raise NotAudioError("The uploaded file is empty.")
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return Sniffed("audio/wav", "WAV")
    if head[:4] == b"fLaC":
        return Sniffed("audio/flac", "FLAC")
    if head[:3] == b"ID3":
        return Sniffed("audio/mpeg", "MP3")
    if head[:4] == b"OggS":
        codec = _ogg_codec(head)
        if codec is None:
            raise NotAudioError(
                "The uploaded file is an Ogg file without an audio stream we can read "
                "(Vorbis, Opus, FLAC or Speex)."
            )
        return Sniffed("audio/ogg", f"Ogg {codec}")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        doc = "WebM" if b"webm" in head[:64] else "Matroska"
        return Sniffed("audio/webm" if doc == "WebM" else "audio/x-matroska", doc)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _MP4_BRANDS_AUDIO:
            return Sniffed("audio/mp4", "M4A")
        if brand.startswith(b"3g"):
            return Sniffed("audio/3gpp", "3GP")
        if brand == b"qt  ":
            return Sniffed("video/quicktime", "QuickTime MOV")
        return Sniffed("video/mp4", "MP4")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Sniffed("audio/aiff", "AIFF")
    if head.startswith(b"#!AMR"):
        return Sniffed("audio/amr", "AMR")
    if head[:16] == _ASF_GUID:
        return Sniffed("audio/x-ms-asf", "WMA/ASF")
    if head[:4] == b"caff":
        return Sniffed("audio/x-caf", "CAF")
    frame = _mpeg_frame(head)
    if frame == "mp3":
        return Sniffed("audio/mpeg", "MP3")
    if frame == "aac":
        return Sniffed("audio/aac", "AAC")
    raise NotAudioError(
        f"The uploaded file is not a recording we can read: its content looks like "
        f"{_describe(head)}, whatever its name says. Upload the meeting as {SUPPORTED_DESCRIPTION}."
    )


def _describe(head: bytes) -> str:
    for magic, what in _KNOWN_NOT_AUDIO:
        if head.startswith(magic):
            return what
    sample = head[:SNIFF_BYTES]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        text = sample[: exc.start].decode("utf-8") if exc.start > len(sample) - 4 else ""
    if text and sum(c.isprintable() or c.isspace() for c in text) >= 0.95 * len(text):
        return "text"
    return "data of an unknown kind"
