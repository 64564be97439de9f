"""DER of the embedded CPU diarizer on the real and synthetic recordings in ../shared/data.

    python -m benchmarks.diarization_quality [--tune]

DER uses pyannote.metrics with a 0.25 s collar (as pyannote's own benchmarks do), overlaps
scored, inside each file's UEM. Every set is run twice: the speaker count found automatically,
and the true count given as a hint. The clustering defaults were tuned on the pyannote_debug
TRAIN split only (`--tune` re-runs that search); the development split, the pyannote sample and
the synthetic meetings are never used to choose anything.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, vad_options
from ml_controller.diarization.base import SpeakerHints
from ml_controller.diarization.cpu import CpuDiarizer, WindowAnalysis
from ml_controller.settings import MLSettings
from ml_controller.types import Diarization, SpeechRegion

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COLLAR = 0.25
_COMPONENTS = ("missed detection", "false alarm", "confusion", "total")


@dataclass(frozen=True)
class EvalFile:
    uri: str
    wav: Path
    reference: Annotation
    uem: Timeline

    @property
    def speakers(self) -> int:
        return len(self.reference.crop(self.uem).labels())


def load_rttm(path: Path) -> dict[str, Annotation]:
    annotations: dict[str, Annotation] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) < 8 or fields[0] != "SPEAKER":
            continue
        uri, start, duration, label = fields[1], float(fields[3]), float(fields[4]), fields[7]
        annotation = annotations.setdefault(uri, Annotation(uri=uri))
        annotation[Segment(start, start + duration), len(annotation)] = label
    return annotations


def load_uem(path: Path) -> dict[str, Timeline]:
    timelines: dict[str, Timeline] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 4:
            uri, start, end = fields[0], float(fields[2]), float(fields[3])
            timelines.setdefault(uri, Timeline(uri=uri)).add(Segment(start, end))
    return timelines


def debug_files(split: str, data: Path = DATA) -> list[EvalFile]:
    folder = data / "audio" / "pyannote_debug"
    refs = load_rttm(folder / f"debug.{split}.rttm")
    uems = load_uem(folder / f"debug.{split}.uem")
    files = []
    for listed in (folder / f"debug.{split}.lst").read_text("utf-8").split():
        # pyannote's list names one file "trñ00" (a unicode test) while its RTTM and UEM say
        # "trn00" and the shared copy of the audio is "trn_tilde00.wav".
        uri = listed.replace("ñ", "n")
        wav = folder / f"{listed.replace('ñ', 'n_tilde')}.wav"
        files.append(EvalFile(uri, wav, refs.get(uri, Annotation(uri=uri)), uems[uri]))
    return files


def sample_files(data: Path = DATA) -> list[EvalFile]:
    folder = data / "audio" / "pyannote_sample"
    reference = load_rttm(folder / "sample.rttm")["sample"]
    with decode_audio(folder / "sample.wav") as audio:
        duration = audio.duration
    # No UEM ships with the sample: the whole file is annotated.
    return [EvalFile("sample", folder / "sample.wav", reference, Timeline([Segment(0, duration)]))]


def synthetic_files(name: str, data: Path = DATA) -> list[EvalFile]:
    folder = data / "synthetic_meetings" / name
    reference = load_rttm(folder / f"{name}.rttm")[name]
    return [
        EvalFile(name, folder / f"{name}.wav", reference, load_uem(folder / f"{name}.uem")[name])
    ]


def to_annotation(diarization: Diarization, uri: str) -> Annotation:
    annotation = Annotation(uri=uri)
    for i, turn in enumerate(diarization.turns):
        annotation[Segment(turn.start, turn.end), i] = turn.speaker
    return annotation


@dataclass
class Score:
    """DER components summed over files (seconds), speaker counts and diarization time."""

    components: dict[str, float]
    counts: list[tuple[int, int]]  # (found, reference) per file
    seconds: float
    audio_seconds: float

    @property
    def der(self) -> float:
        c = self.components
        return (c["missed detection"] + c["false alarm"] + c["confusion"]) / c["total"]

    def rate(self, name: str) -> float:
        return self.components[name] / self.components["total"]


def score(
    files: Iterable[EvalFile],
    diarize: Callable[[EvalFile], tuple[Diarization, float, float]],
) -> Score:
    """Score `diarize(file) -> (diarization, seconds spent, audio seconds)` over `files`."""
    metric = DiarizationErrorRate(collar=COLLAR, skip_overlap=False)
    totals = dict.fromkeys(_COMPONENTS, 0.0)
    counts: list[tuple[int, int]] = []
    spent = audio_seconds = 0.0
    for file in files:
        hypothesis, took, duration = diarize(file)
        detail = metric(
            file.reference, to_annotation(hypothesis, file.uri), uem=file.uem, detailed=True
        )
        for name in _COMPONENTS:
            totals[name] += float(detail[name])
        counts.append((len(hypothesis.speakers), file.speakers))
        spent += took
        audio_seconds += duration
    return Score(totals, counts, spent, audio_seconds)


def speech_regions(audio_path: Path, settings: MLSettings) -> list[SpeechRegion]:
    with decode_audio(audio_path) as audio:
        return detect_speech(
            audio, vad_options(settings.vad_threshold, settings.vad_min_silence_ms)
        )


def true_count(file: EvalFile) -> SpeakerHints:
    return SpeakerHints(num_speakers=file.speakers)


def no_hint(file: EvalFile) -> SpeakerHints:
    return SpeakerHints()


def runner(
    diarizer: CpuDiarizer, settings: MLSettings, hints: Callable[[EvalFile], SpeakerHints]
) -> Callable[[EvalFile], tuple[Diarization, float, float]]:
    def run(file: EvalFile) -> tuple[Diarization, float, float]:
        vad = vad_options(settings.vad_threshold, settings.vad_min_silence_ms)
        with decode_audio(file.wav) as audio:
            speech = detect_speech(audio, vad)
            began = time.perf_counter()
            result = diarizer.diarize(audio.samples, speech, hints(file))
            return result, time.perf_counter() - began, audio.duration

    return run


def _sets(data: Path) -> list[tuple[str, list[EvalFile]]]:
    dev, train = debug_files("development", data), debug_files("train", data)
    return [
        (f"pyannote_debug development ({len(dev)} × 30 s AMI)", dev),
        (f"pyannote_debug train ({len(train)} × 30 s AMI; TUNING split)", train),
        ("pyannote_sample (30 s, 2 speakers)", sample_files(data)),
        ("synth_en_meeting (espeak, 4 speakers)", synthetic_files("synth_en_meeting", data)),
        ("synth_ru_meeting (espeak, 3 speakers)", synthetic_files("synth_ru_meeting", data)),
    ]


def der_rows(data: Path = DATA, settings: MLSettings | None = None) -> list[dict[str, object]]:
    settings = settings or MLSettings()
    diarizer = CpuDiarizer.from_settings(settings)
    sets = _sets(data)
    # The first call pays one-off library initialisation; keep it out of the timings.
    runner(diarizer, settings, no_hint)(sets[2][1][0])
    rows: list[dict[str, object]] = []
    for name, files in sets:
        for mode, hints in (("automatic", no_hint), ("true count given", true_count)):
            result = score(files, runner(diarizer, settings, hints))
            rows.append(
                {
                    "set": name,
                    "speaker count": mode,
                    "DER": f"{100 * result.der:.1f} %",
                    "missed": f"{100 * result.rate('missed detection'):.1f} %",
                    "false alarm": f"{100 * result.rate('false alarm'):.1f} %",
                    "confusion": f"{100 * result.rate('confusion'):.1f} %",
                    "speakers found/ref": " ".join(f"{f}/{r}" for f, r in result.counts),
                    "RTF": round(result.seconds / result.audio_seconds, 4),
                }
            )
    return rows


def tune_rows(data: Path = DATA, settings: MLSettings | None = None) -> list[dict[str, object]]:
    """The grid search behind the clustering defaults, on the TRAIN split only, best first.

    The models run once per file; only the decisions after them vary. Ranked by DER with the
    count found automatically, then by DER with the true count given.
    """
    settings = settings or MLSettings()
    diarizer = CpuDiarizer.from_settings(settings)
    files = debug_files("train", data)
    analyses: dict[str, WindowAnalysis] = {}
    for file in files:
        speech = speech_regions(file.wav, settings)
        with decode_audio(file.wav) as audio:
            analyses[file.uri] = diarizer.analyse(audio.samples, speech)
    base = diarizer.params
    rows: list[dict[str, object]] = []
    grid = itertools.product(
        (0.2, 0.24, 0.26, 0.28, 0.3, 0.32, 0.34, 0.36, 0.4),  # threshold
        (0.0, 0.5),  # same_window_penalty
        (0.0, 2.0),  # min_cluster_seconds
        (0.4, 0.5),  # count_onset
    )
    for threshold, penalty, min_seconds, onset in grid:
        clustering = replace(
            base.clustering,
            threshold=threshold,
            same_window_penalty=penalty,
            min_cluster_seconds=min_seconds,
        )
        trial = CpuDiarizer(
            replace(base, clustering=clustering, count_onset=onset),
            segmenter=diarizer.segmenter,
            embedder=diarizer.embedder,
        )
        row: dict[str, object] = {
            "threshold": threshold,
            "same_window_penalty": penalty,
            "min_cluster_seconds": min_seconds,
            "count_onset": onset,
        }
        for mode, hints in (("automatic", no_hint), ("true count", true_count)):

            def run(
                file: EvalFile,
                trial: CpuDiarizer = trial,
                hints: Callable[[EvalFile], SpeakerHints] = hints,
            ) -> tuple[Diarization, float, float]:
                analysis = analyses[file.uri]
                return trial.decide(analysis, hints(file)), 0.0, analysis.duration

            result = score(files, run)
            row[f"DER {mode}"] = round(100 * result.der, 2)
            row[f"exact counts {mode}"] = sum(f == r for f, r in result.counts)
        rows.append(row)
    return sorted(rows, key=lambda r: (r["DER automatic"], r["DER true count"]))


if __name__ == "__main__":
    from benchmarks.quality import markdown_table

    print(markdown_table(tune_rows() if "--tune" in sys.argv else der_rows()))
