"""DER of the embedded CPU diarizer on the real and synthetic recordings in ../shared/data.

    python -m benchmarks.diarization_quality            # the defaults, every set
    python -m benchmarks.diarization_quality --compare  # GE2E vs CAM++ × AHC / spectral / VBx
    python -m benchmarks.diarization_quality --speed    # × real time per embedder

DER uses pyannote.metrics with a 0.25 s collar (as pyannote's own benchmarks do), overlaps
scored, inside each file's UEM. Every set is run twice: the speaker count found automatically,
and the true count given as a hint. `--compare` runs the models once per embedder and file, then
chooses each clustering method's parameters by a grid search on the pyannote_debug TRAIN split
only; the development split, the pyannote sample, the synthetic meetings and the demo meeting
are never used to choose anything. It writes benchmarks/results/diarization_quality.{json,md}.
GE2E needs the optional `ge2e` extra (resemblyzer); without it only CAM++ is measured.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from core.contracts import SpeakerHints
from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, vad_options
from ml_controller.diarization.cpu import (
    CpuDiarizationParams,
    CpuDiarizer,
    WindowAnalysis,
    frame_time,
)
from ml_controller.diarization.labels import to_diarization
from ml_controller.diarization.reconstruct import frame_runs
from ml_controller.diarization.segmentation import FRAME_STEP_SAMPLES
from ml_controller.settings import MLSettings
from ml_controller.speakers.voiceprint import turn_activity
from ml_controller.types import Diarization, SpeakerTurn, SpeechRegion

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


def _row(name: str, mode: str, result: Score) -> dict[str, object]:
    return {
        "set": name,
        "speaker count": mode,
        "DER": f"{100 * result.der:.1f} %",
        "missed": f"{100 * result.rate('missed detection'):.1f} %",
        "false alarm": f"{100 * result.rate('false alarm'):.1f} %",
        "confusion": f"{100 * result.rate('confusion'):.1f} %",
        "speakers found/ref": " ".join(f"{f}/{r}" for f, r in result.counts),
        "RTF": round(result.seconds / result.audio_seconds, 4),
    }


def der_rows(data: Path = DATA, settings: MLSettings | None = None) -> list[dict[str, object]]:
    """The configured defaults on every set (what `minuta process` does)."""
    settings = settings or MLSettings()
    diarizer = CpuDiarizer.from_settings(settings)
    sets = _sets(data)
    # The first call pays one-off library initialisation; keep it out of the timings.
    runner(diarizer, settings, no_hint)(sets[2][1][0])
    rows: list[dict[str, object]] = []
    for name, files in sets:
        for mode, hints in (("automatic", no_hint), ("true count given", true_count)):
            rows.append(_row(name, mode, score(files, runner(diarizer, settings, hints))))
    return rows


# ---- GE2E vs CAM++ × clustering methods, parameters chosen on the TRAIN split -----------------

GRIDS: dict[str, list[dict[str, object]]] = {
    "ahc": [
        {"threshold": round(t, 2), "same_window_penalty": p}
        for t, p in itertools.product(np.arange(0.16, 1.01, 0.04), (0.0, 0.5))
    ],
    "spectral": [
        {"spectral_keep": k, "spectral_min_neighbours": m}
        for k, m in itertools.product((0.05, 0.1, 0.2, 0.3, 0.5), (3, 5, 8))
    ],
    "vbx": [
        {"threshold": round(t, 2), "vbx_concentration": c, "vbx_min_share": m}
        for t, c, m in itertools.product(
            np.arange(0.2, 1.01, 0.1), (5.0, 10.0, 20.0, 40.0), (0.02, 0.05, 0.1)
        )
    ],
}


def embedders() -> list[str]:
    found = ["campplus"]
    if importlib.util.find_spec("resemblyzer") is not None:
        found.insert(0, "ge2e")
    return found


@dataclass
class Analysed:
    analysis: WindowAnalysis
    seconds: float  # segmentation + embedding time


def analyse_files(
    diarizer: CpuDiarizer, files: Iterable[EvalFile], settings: MLSettings
) -> dict[str, Analysed]:
    out: dict[str, Analysed] = {}
    for file in files:
        speech = speech_regions(file.wav, settings)
        with decode_audio(file.wav) as audio:
            began = time.perf_counter()
            analysis = diarizer.analyse(audio.samples, speech)
            out[file.uri] = Analysed(analysis, time.perf_counter() - began)
    return out


def decided(
    diarizer: CpuDiarizer,
    params: CpuDiarizationParams,
    analysed: dict[str, Analysed],
    hints: Callable[[EvalFile], SpeakerHints],
) -> Callable[[EvalFile], tuple[Diarization, float, float]]:
    trial = CpuDiarizer(params, segmenter=diarizer.segmenter, embedder=diarizer.embedder)

    def run(file: EvalFile) -> tuple[Diarization, float, float]:
        done = analysed[file.uri]
        began = time.perf_counter()
        result = trial.decide(done.analysis, hints(file))
        took = done.seconds + time.perf_counter() - began
        return result, took, done.analysis.duration

    return run


def with_clustering(base: CpuDiarizationParams, **changes: object) -> CpuDiarizationParams:
    return replace(base, clustering=replace(base.clustering, **changes))  # type: ignore[arg-type]


def tune(
    diarizer: CpuDiarizer, train: list[EvalFile], analysed: dict[str, Analysed]
) -> dict[str, dict[str, object]]:
    """Per method: the grid point with the lowest train DER (automatic count), ties to the
    lower DER with the true count."""
    chosen: dict[str, dict[str, object]] = {}
    for method, grid in GRIDS.items():
        best: tuple[float, float, dict[str, object]] | None = None
        for point in grid:
            params = with_clustering(diarizer.params, method=method, **point)
            auto = score(train, decided(diarizer, params, analysed, no_hint)).der
            if best is not None and auto > best[0]:
                continue
            given = score(train, decided(diarizer, params, analysed, true_count)).der
            if best is None or (auto, given) < best[:2]:
                best = (auto, given, point)
        assert best is not None
        chosen[method] = {"params": best[2], "train DER automatic": round(100 * best[0], 2)}
    return chosen


def oracle_assignment(
    diarizer: CpuDiarizer, analysed: dict[str, Analysed]
) -> Callable[[EvalFile], tuple[Diarization, float, float]]:
    """The bound of the segmentation and reconstruction: every local speaker goes to the
    reference speaker it overlaps most (perfect embeddings and clustering)."""

    def run(file: EvalFile) -> tuple[Diarization, float, float]:
        analysis = analysed[file.uri].analysis
        turns = [
            SpeakerTurn(start=seg.start, end=seg.end, speaker=str(label))
            for seg, _, label in file.reference.crop(file.uem).itertracks(yield_label=True)
        ]
        speakers = sorted({t.speaker for t in turns})
        starts = (analysis.window_frames * FRAME_STEP_SAMPLES).tolist()
        truth = turn_activity(starts, turns, speakers)
        assignment = np.full((len(starts), analysis.activity.shape[2]), -1, dtype=np.int64)
        for w in range(len(starts)):
            for k in range(analysis.activity.shape[2]):
                active = analysis.activity[w, :, k]
                if active.any() and truth[w][active].any():
                    assignment[w, k] = int(np.argmax(truth[w][active].sum(axis=0)))
        runs = frame_runs(
            analysis.window_frames,
            analysis.activity,
            assignment,
            len(speakers),
            diarizer.params.count_onset,
        )
        tracks = [
            (frame_time(a), min(analysis.duration, frame_time(b)), speaker)
            for a, b, speaker in runs
        ]
        return to_diarization(tracks), 0.0, analysis.duration

    return run


def demo_meeting_wav(folder: Path) -> Path | None:
    """samples/demo_meeting.json rendered by scripts/make_demo_meeting.py (needs espeak-ng)."""
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "make_demo_meeting", root / "scripts" / "make_demo_meeting.py"
    )
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        path: Path = module.render(root / "samples" / "demo_meeting.json", folder / "demo.wav")
    except (OSError, RuntimeError) as exc:
        print(f"demo meeting not rendered: {exc}")
        return None
    return path


def demo_speakers() -> int:
    root = Path(__file__).resolve().parents[1]
    spec = json.loads((root / "samples" / "demo_meeting.json").read_text(encoding="utf-8"))
    return len(spec["voices"])


def compare(data: Path = DATA, settings: MLSettings | None = None) -> dict[str, object]:
    settings = settings or MLSettings()
    sets = _sets(data)
    train = debug_files("train", data)
    rows: list[dict[str, object]] = []
    report: dict[str, object] = {"collar": COLLAR, "tuning split": "pyannote_debug train"}
    with tempfile.TemporaryDirectory() as tmp:
        demo = demo_meeting_wav(Path(tmp))
        demo_audio = None
        if demo is not None:
            with decode_audio(demo) as audio:
                demo_audio = np.array(audio.samples)
        for name in embedders():
            diarizer = CpuDiarizer.from_settings(
                settings.model_copy(update={"diarization_embedder": name})
            )
            runner(diarizer, settings, no_hint)(sets[2][1][0])  # warm-up, untimed
            analysed: dict[str, Analysed] = {}
            for _, files in sets:
                analysed.update(analyse_files(diarizer, files, settings))
            chosen = tune(diarizer, train, analysed)
            report[name] = {"chosen on train": chosen}
            demo_analysis = None
            if demo_audio is not None:
                demo_analysis = diarizer.analyse(demo_audio, [])
            for method, choice in chosen.items():
                point = choice["params"]
                assert isinstance(point, dict)
                params = with_clustering(diarizer.params, method=method, **point)
                for set_name, files in sets:
                    for mode, hints in (("automatic", no_hint), ("true count", true_count)):
                        result = score(files, decided(diarizer, params, analysed, hints))
                        rows.append(
                            {"embedder": name, "clustering": method, **_row(set_name, mode, result)}
                        )
                if demo_analysis is not None:
                    trial = CpuDiarizer(
                        params, segmenter=diarizer.segmenter, embedder=diarizer.embedder
                    )
                    found = len(trial.decide(demo_analysis, SpeakerHints()).speakers)
                    rows.append(
                        {
                            "embedder": name,
                            "clustering": method,
                            "set": "demo meeting (samples/demo_meeting.json, espeak)",
                            "speaker count": "automatic",
                            "speakers found/ref": f"{found}/{demo_speakers()}",
                        }
                    )
            if name == "campplus":
                # The same segmentation for every embedder: one bound.
                for set_name, files in sets:
                    result = score(files, oracle_assignment(diarizer, analysed))
                    rows.append(
                        {
                            "embedder": "oracle (reference speaker per local speaker)",
                            "clustering": "-",
                            **_row(set_name, "true count", result),
                        }
                    )
            seconds = sum(a.seconds for a in analysed.values())
            audio_seconds = sum(a.analysis.duration for a in analysed.values())
            report[name]["analysis RTF (segmentation + embeddings)"] = round(  # type: ignore[index]
                seconds / audio_seconds, 4
            )
    report["rows"] = rows
    return report


def speed_rows(
    data: Path = DATA, settings: MLSettings | None = None, repeats: int = 3
) -> list[dict[str, object]]:
    """Diarization time over audio time per embedder, the embedders interleaved and the best of
    `repeats` kept (the cores are shared: the minimum is the least disturbed run)."""
    settings = settings or MLSettings()
    files = [
        *synthetic_files("synth_en_meeting", data),
        *synthetic_files("synth_ru_meeting", data),
        *debug_files("development", data),
        *debug_files("train", data),
    ]
    diarizers = {
        name: CpuDiarizer.from_settings(settings.model_copy(update={"diarization_embedder": name}))
        for name in embedders()
    }
    best: dict[str, float] = {}
    audio_seconds = 0.0
    for _ in range(repeats):
        for name, diarizer in diarizers.items():
            result = score(files, runner(diarizer, settings, no_hint))
            best[name] = min(best.get(name, float("inf")), result.seconds)
            audio_seconds = result.audio_seconds
    return [
        {
            "embedder": name,
            "audio (s)": round(audio_seconds, 1),
            "diarization (s)": round(seconds, 2),
            "× real time": round(seconds / audio_seconds, 4),
        }
        for name, seconds in best.items()
    ]


def main() -> None:
    from benchmarks.quality import RESULTS, markdown_table

    if "--speed" in sys.argv:
        speeds = speed_rows()
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "diarization_speed.json").write_text(json.dumps(speeds, indent=1) + "\n")
        print(markdown_table(speeds))
        return
    if "--compare" not in sys.argv:
        print(markdown_table(der_rows()))
        return
    report = compare()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "diarization_quality.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    rows = report["rows"]
    assert isinstance(rows, list)
    text = markdown_table(rows)
    (RESULTS / "diarization_quality.md").write_text(text, encoding="utf-8")
    print(text)
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
