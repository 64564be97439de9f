"""cpWER of speaker-attributed transcripts on the synthetic meetings: GE2E vs CAM++ diarization,
and words aligned by the default rule (each word to the speaker covering it) vs with the optional
boundary rules (ml_controller/align.py `BOUNDARY_RULES`).

    python -m benchmarks.cpwer

cpWER (concatenated minimum-permutation WER, as meeteval defines it): each speaker's words are
concatenated in time order, reference and hypothesis speakers are paired one to one (unpaired
ones against an empty text) to minimise the total word errors, and the errors are divided by the
reference's words. Whisper runs once per meeting; only the speakers change between rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import jiwer
import numpy as np
from scipy.optimize import linear_sum_assignment

from benchmarks.diarization_quality import DATA, embedders
from core.contracts import SpeakerHints
from ml_controller.align import BOUNDARY_RULES, assign_speakers, build_lines
from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, plan_blocks, vad_options
from ml_controller.diarization.cpu import CpuDiarizer
from ml_controller.pipeline import MeetingPipeline
from ml_controller.settings import MLSettings
from ml_controller.types import AsrSegment, Diarization

RESULTS = Path(__file__).resolve().parent / "results" / "cpwer.json"
MEETINGS = (("synth_en_meeting", "en"), ("synth_ru_meeting", "ru"))


@dataclass(frozen=True)
class CpWer:
    errors: int
    reference_words: int

    @property
    def rate(self) -> float:
        return self.errors / max(1, self.reference_words)


def normalise(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def reference_texts(stm: Path) -> dict[str, list[str]]:
    turns = []
    for line in stm.read_text(encoding="utf-8").splitlines():
        fields = line.split(maxsplit=6)
        if len(fields) == 7:
            turns.append((float(fields[3]), fields[2], fields[6]))
    out: dict[str, list[str]] = {}
    for _, speaker, text in sorted(turns):
        out.setdefault(speaker, []).extend(normalise(text.replace("<en>", "").replace("<ru>", "")))
    return out


def cpwer(reference: dict[str, list[str]], hypothesis: dict[str, list[str]]) -> CpWer:
    refs, hyps = list(reference.values()), list(hypothesis.values())
    n = max(len(refs), len(hyps))
    refs += [[]] * (n - len(refs))
    hyps += [[]] * (n - len(hyps))
    cost = np.zeros((n, n), dtype=np.int64)
    for i, ref in enumerate(refs):
        for j, hyp in enumerate(hyps):
            cost[i, j] = _errors(ref, hyp)
    rows, cols = linear_sum_assignment(cost)
    return CpWer(int(cost[rows, cols].sum()), sum(len(r) for r in refs))


def _errors(ref: list[str], hyp: list[str]) -> int:
    if not ref:
        return len(hyp)
    if not hyp:
        return len(ref)
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return int(out.substitutions + out.deletions + out.insertions)


def hypothesis_texts(
    segments: list[AsrSegment], diarization: Diarization, boundary_rules: bool
) -> dict[str, list[str]]:
    words = assign_speakers(segments, diarization, BOUNDARY_RULES if boundary_rules else None)
    lines = build_lines(words, diarization=diarization)
    out: dict[str, list[str]] = {}
    for line in sorted(lines, key=lambda line: line.start):
        out.setdefault(line.speaker, []).extend(normalise(line.text))
    return out


def run(settings: MLSettings | None = None, data: Path = DATA) -> list[dict[str, object]]:
    settings = settings or MLSettings(llm_engine="none")
    pipeline = MeetingPipeline(settings)
    diarizers = {
        name: CpuDiarizer.from_settings(settings.model_copy(update={"diarization_embedder": name}))
        for name in embedders()
    }
    rows: list[dict[str, object]] = []
    for meeting, language in MEETINGS:
        folder = data / "synthetic_meetings" / meeting
        reference = reference_texts(folder / f"{meeting}.stm")
        with decode_audio(folder / f"{meeting}.wav") as audio:
            vad = vad_options(settings.vad_threshold, settings.vad_min_silence_ms)
            speech = detect_speech(audio, vad)
            blocks = plan_blocks(speech, settings.asr_block_seconds)
            segments = pipeline.transcriber.transcribe(audio, blocks, vad, language=language)
            for name, diarizer in diarizers.items():
                diarization = diarizer.diarize(audio.samples, speech, SpeakerHints())
                for boundary_rules in (False, True):
                    hyp = hypothesis_texts(segments.segments, diarization, boundary_rules)
                    score = cpwer(reference, hyp)
                    rows.append(
                        {
                            "meeting": meeting,
                            "embedder": name,
                            "words": "+ boundary rules" if boundary_rules else "default",
                            "speakers found/ref": f"{len(hyp)}/{len(reference)}",
                            "cpWER": f"{100 * score.rate:.1f} %",
                            "errors": score.errors,
                            "reference words": score.reference_words,
                        }
                    )
    return rows


def main() -> None:
    from benchmarks.quality import markdown_table

    rows = run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
