"""The upload sniffer on random bytes (hypothesis): a type or NotAudioError, never another error.

Random bytes alone rarely look like a container, so half the inputs start with a real magic
number (or a piece of one) followed by anything: that is where a parser indexes past the end.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.api.sniff import SNIFF_BYTES, NotAudioError, Sniffed, sniff

MAGICS = [
    b"RIFF\x00\x00\x00\x00WAVE",
    b"RF64\xff\xff\xff\xffWAVE",
    b"fLaC",
    b"ID3",
    b"OggS\x00\x02" + bytes(20),
    b"\x1a\x45\xdf\xa3",
    b"\x00\x00\x00\x20ftyp",
    b"\x00\x00\x00\x20ftypM4A ",
    b"FORM\x00\x00\x00\x00AIFF",
    b"#!AMR",
    b"caff",
    b"\xff\xfb",
    b"\xff\xf1",
    b"%PDF",
    b"\xef\xbb\xbf",
]

heads = st.one_of(
    st.binary(max_size=SNIFF_BYTES),
    st.tuples(st.sampled_from(MAGICS), st.integers(0, 16), st.binary(max_size=SNIFF_BYTES)).map(
        lambda t: (t[0][: max(1, len(t[0]) - t[1])] + t[2])[:SNIFF_BYTES]
    ),
    st.text(max_size=SNIFF_BYTES // 4).map(lambda s: s.encode()[:SNIFF_BYTES]),
)


@given(head=heads)
@settings(max_examples=3000, deadline=None, derandomize=True, database=None)
def test_sniff_answers_a_type_or_not_audio_for_any_bytes(head: bytes) -> None:
    try:
        found = sniff(head)
    except NotAudioError as exc:
        assert str(exc)  # a message for a person
        return
    assert isinstance(found, Sniffed)
    assert found.content_type.split("/")[0] in ("audio", "video")
