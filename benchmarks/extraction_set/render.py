"""Render the scripted meetings of the extraction set to audio with ``synthetic_meeting``.

    python -m benchmarks.extraction_set.render                 # all scripted meetings
    python -m benchmarks.extraction_set.render --only ru_release --out /tmp/x

Each ``scripted/<id>.yaml`` becomes a script for ``../shared/tools/synthetic_meeting/
synth_meeting.py`` (same mixing: pauses, ~18 % overlapped turn changes, 20 dB noise, reverb),
rendered into ``~/.cache/minuta/extraction_set/<id>/`` (never into the repo): ``<id>.wav``
(16 kHz), RTTM, STM, ``ref.json`` and ``<id>.gold.json`` (the gold with each evidence's turn
start time). English voices are espeak-ng; Russian voices (``rhvoice:<voice>``) are RHVoice,
which Whisper can read (espeak Russian it cannot): Debian bookworm-backports non-free packages
``rhvoice rhvoice-russian`` (see ../shared/MODELS.md). The seed is fixed per meeting (CRC32 of
its id), so a re-render gives the same audio.

Needs espeak-ng, sox, RHVoice-test (Russian only) and numpy: `bash scripts/install_test_speech.sh`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.extraction_set.dataset import REPO, Meeting, load_meetings

SYNTH = Path(
    os.environ.get(
        "MINUTA_SYNTH_MEETING",
        REPO.parent / "shared" / "tools" / "synthetic_meeting" / "synth_meeting.py",
    )
)
DEFAULT_OUT = Path.home() / ".cache" / "minuta" / "extraction_set"
RHVOICE_PREFIX = "rhvoice:"
RHVOICE_RATE = 90  # percent of RHVoice's default speed: a little slower, closer to meeting speech


def seed_of(meeting_id: str) -> int:
    return zlib.crc32(meeting_id.encode("utf-8")) % 100_000


def synth_script(meeting: Meeting) -> dict[str, Any]:
    """The meeting as a ``synth_meeting.py`` script (one topic: the meeting's title)."""
    script = meeting.script
    assert script is not None, meeting.id
    lang = meeting.language
    return {
        "id": meeting.id,
        "language": lang,
        "sources": [{"name": "Minuta extraction set, scripted meeting", "licence": "MIT"}],
        "speakers": {
            name: {
                "alias": name,
                "voices": {lang: spk.voice},
                "pitch": spk.pitch,
                "speed": spk.speed,
                "gain_db": spk.gain_db,
            }
            for name, spk in script.speakers.items()
        },
        "turns": [
            {"speaker": t.speaker, "lang": lang, "text": t.text, "topic": "t0", "source": None}
            for t in script.turns
        ],
        "topics": [{"id": "t0", "title": script.title}],
    }


def _load_synth() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synth_meeting", SYNTH)
    if spec is None or spec.loader is None:
        raise SystemExit(f"synthetic_meeting renderer not found at {SYNTH}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tts_with_rhvoice(synth: ModuleType) -> Callable[..., Any]:
    """synth_meeting's espeak ``tts`` that also speaks ``rhvoice:<voice>`` voices."""
    espeak_tts = synth.tts

    def tts(text: str, voice: str, pitch: int, speed: int, tmpdir: str, idx: int) -> Any:
        if not voice.startswith(RHVOICE_PREFIX):
            return espeak_tts(text, voice, pitch, speed, tmpdir, idx)
        tf = os.path.join(tmpdir, f"t{idx}.txt")
        raw = os.path.join(tmpdir, f"r{idx}.wav")
        res = os.path.join(tmpdir, f"s{idx}.wav")
        with open(tf, "w", encoding="utf-8") as f:
            f.write(text)
        profile = voice[len(RHVOICE_PREFIX) :]
        synth.run(["RHVoice-test", "-p", profile, "-r", str(RHVOICE_RATE), "-i", tf, "-o", raw])
        synth.run(["sox", "-R", raw, "-r", str(synth.SR), "-c", "1", "-b", "16", res])
        x, sr = synth.read_wav(res)
        assert sr == synth.SR
        return x

    return tts


def render(meeting: Meeting, out: Path, synth: ModuleType) -> dict[str, Any]:
    """Render one meeting; returns its ref.json (with the gold's evidence times filled in)."""
    patched: Any = synth  # a module loaded at run time: its attributes are not typed
    patched.tts = _tts_with_rhvoice(synth)
    with tempfile.TemporaryDirectory() as td:
        script_path = Path(td) / f"{meeting.id}.json"
        script_path.write_text(json.dumps(synth_script(meeting), ensure_ascii=False), "utf-8")
        argv = sys.argv
        seed = str(seed_of(meeting.id))
        sys.argv = [str(SYNTH), str(script_path), "--out", str(out), "--seed", seed]
        try:
            synth.main()
        finally:
            sys.argv = argv
    folder = out / meeting.id
    ref_path = folder / f"{meeting.id}.ref.json"
    ref: dict[str, Any] = json.loads(ref_path.read_text("utf-8"))
    if meeting.language == "ru":
        version = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "rhvoice"], capture_output=True, text=True
        ).stdout.strip()
        ref["render"]["tts"] = f"RHVoice {version} (Russian voices), via synth_meeting.py"
        ref_path.write_text(json.dumps(ref, ensure_ascii=False, indent=1), "utf-8")
    start = {t["script_index"]: t["start"] for t in ref["turns"]}
    gold = meeting.model_dump(exclude={"script"})
    for key in ("decisions", "action_items", "distractors"):
        for item in gold[key]:
            item["evidence"]["time_s"] = start.get(item["evidence"]["utterance"])
    (folder / f"{meeting.id}.gold.json").write_text(
        json.dumps(gold, ensure_ascii=False, indent=1), "utf-8"
    )
    return ref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", nargs="*", help="meeting ids (default: every scripted meeting)")
    args = ap.parse_args(argv)
    meetings = [m for m in load_meetings() if m.script is not None]
    if args.only:
        meetings = [m for m in meetings if m.id in set(args.only)]
    synth = _load_synth()
    args.out.mkdir(parents=True, exist_ok=True)
    for m in meetings:
        ref = render(m, args.out, synth)
        print(f"{m.id}: {ref['duration_s']:.1f} s -> {args.out / m.id / (m.id + '.wav')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
