"""WER of the embedded ASR on the real recordings in ../shared/data (jiwer, normalised text)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ml_controller.asr.whisper import WhisperTranscriber
from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, plan_blocks, vad_options
from ml_controller.metrics import normalize_text, word_error_rate
from ml_controller.settings import MLSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _transcribe(transcriber: WhisperTranscriber, path: Path, language: str | None) -> str:
    vad = vad_options(0.5, 500)
    with decode_audio(path) as audio:
        blocks = plan_blocks(detect_speech(audio, vad), 600)
        result = transcriber.transcribe(audio, blocks, vad, language=language)
    return " ".join(s.text for s in result.segments)


def _stm_text(stm: Path) -> str:
    words = []
    for line in stm.read_text().splitlines():
        if line.strip() and not line.startswith(";;"):
            words.append(line.split(maxsplit=6)[6] if len(line.split(maxsplit=6)) > 6 else "")
    return " ".join(words)


def wer_rows(data: Path = DATA, settings: MLSettings | None = None) -> list[dict[str, object]]:
    transcriber = WhisperTranscriber(settings or MLSettings())
    rows: list[dict[str, object]] = []
    for folder in ("asr_en", "asr_ru"):
        refs = [
            json.loads(line)
            for line in (data / "audio" / folder / "references.jsonl").read_text().splitlines()
            if line.strip()
        ]
        # The stereo clip has one reference per channel, not one for the mix; it is left out.
        refs = [r for r in refs if isinstance(r["text"], str)]
        for mode, lang in (("detected language", None), ("language given", folder[-2:])):
            folder_dir = data / "audio" / folder
            hyps = [_transcribe(transcriber, folder_dir / r["file"], lang) for r in refs]
            n_words = sum(len(normalize_text(r["text"]).split()) for r in refs)
            rows.append(
                {
                    "set": f"{folder} ({len(refs)} files, {n_words} words)",
                    "mode": mode,
                    "WER": round(word_error_rate([r["text"] for r in refs], hyps), 4),
                }
            )
    for name in ("synth_en_meeting", "synth_ru_meeting"):
        meeting_dir = data / "synthetic_meetings" / name
        hyp = _transcribe(transcriber, meeting_dir / f"{name}.wav", name.split("_")[1])
        rows.append(
            {
                "set": f"{name} (espeak TTS, plumbing only)",
                "mode": "language given",
                "WER": round(word_error_rate([_stm_text(meeting_dir / f"{name}.stm")], [hyp]), 4),
            }
        )
    return rows


if __name__ == "__main__":
    for row in wer_rows(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA):
        print(row)
