"""Naming speakers across meetings from enrolled voiceprints, on real AMI recordings.

    python -m benchmarks.speaker_naming            # CAM++, and GE2E when resemblyzer is installed

Data: the pyannote_debug excerpts of ../shared/data (12 × 30 s of AMI with RTTM). AMI participant
ids recur across files (dev00/dev01: MEE009, MEE012; trn07/trn08: FEE087, FEE088, MEE089, MEO086;
trn00/trn01/trn03: MÉO069 and more; trn06/trn09: FEE083; ...), which is what makes this a test.

Each file's speakers get a voiceprint two ways:
- ``diarization``: the product path, `Diarization.embeddings` of the CPU diarizer with the speaker
  count found automatically; a label's true identity is the reference speaker the optimal
  diarization mapping (pyannote.metrics) gives it, none for an unmapped label;
- ``reference``: the same window embeddings over the RTTM turns (an upper bound: perfect
  diarization).

Both are measured for every installed embedder (CAM++; GE2E with the optional `ge2e` extra).

Protocol: enroll every speaker of one file under its true identity, then name the speakers of
another file, for every ordered pair of files. A name is correct or wrong; a speaker left unnamed
is a miss when their person was enrolled, else a correct rejection. Precision = correct /
(correct + wrong); recall = correct / reference speakers of the named file whose person is
enrolled (speakers the diarization never found count as missed). The threshold and margin are
chosen on TRAIN files only (highest recall with precision >= 0.98; on ties the middle of the
tied thresholds); results involving a development file are reported apart with that choice.
Two protocols: one file enrolled, every ordered pair of files; and every other file enrolled at
once (several voiceprints per person, as a tenant builds them up over meetings), which is where
max versus mean-of-top-k scoring can differ. Each protocol gets its own threshold, margin and
top-k from its train results. A speaker left unnamed is the explicit "unknown".
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyannote.metrics.diarization import DiarizationErrorRate

from benchmarks.diarization_quality import (
    DATA,
    EvalFile,
    debug_files,
    speech_regions,
    to_annotation,
)
from core.contracts import SpeakerHints
from ml_controller.audio.decode import decode_audio
from ml_controller.diarization.cpu import CpuDiarizer
from ml_controller.settings import MLSettings
from ml_controller.speakers.naming import EnrolledVoice, NamingParams, name_speakers
from ml_controller.speakers.voiceprint import voiceprints_from_turns
from ml_controller.types import SpeakerTurn

RESULTS = Path(__file__).resolve().parent / "results" / "speaker_naming.json"
TARGET_PRECISION = 0.98
THRESHOLDS = [round(x, 2) for x in np.arange(0.0, 1.0, 0.01)]
MARGINS = (0.0, 0.02, 0.05, 0.1)
TOP_KS = (1, 2, 3)
SOURCES = ("diarization", "reference")


@dataclass
class Voice:
    label: str
    person: str | None  # true identity; None for a diarization label no reference maps to
    vector: np.ndarray
    seconds: float  # speech of that label (diarization turns, or the reference's)


@dataclass
class FileVoices:
    uri: str
    split: str
    persons: dict[str, float]  # reference speaker -> seconds of speech
    voices: dict[str, list[Voice]]  # source -> voices


def _turns_of(file: EvalFile) -> list[SpeakerTurn]:
    return [
        SpeakerTurn(start=segment.start, end=segment.end, speaker=str(label))
        for segment, _, label in file.reference.crop(file.uem).itertracks(yield_label=True)
    ]


def _seconds(turns: Iterable[SpeakerTurn]) -> dict[str, float]:
    out: dict[str, float] = {}
    for turn in turns:
        out[turn.speaker] = out.get(turn.speaker, 0.0) + turn.end - turn.start
    return out


def collect(settings: MLSettings, data: Path = DATA) -> list[FileVoices]:
    diarizer = CpuDiarizer.from_settings(settings)
    mapper = DiarizationErrorRate(collar=0.25, skip_overlap=False)
    out: list[FileVoices] = []
    for split in ("train", "development"):
        for file in debug_files(split, data):
            if not file.wav.is_file():
                print(f"skipping {file.uri}: {file.wav.name} is missing")
                continue
            turns = _turns_of(file)
            persons = _seconds(turns)
            speech = speech_regions(file.wav, settings)
            with decode_audio(file.wav) as audio:
                diarization = diarizer.diarize(audio.samples, speech, SpeakerHints())
                reference = voiceprints_from_turns(audio.samples, turns, diarizer.embedder)
            mapping = mapper.optimal_mapping(
                file.reference, to_annotation(diarization, file.uri), uem=file.uem
            )
            hyp_seconds = _seconds(diarization.turns)
            out.append(
                FileVoices(
                    file.uri,
                    split,
                    persons,
                    {
                        "diarization": [
                            Voice(
                                label,
                                mapping.get(label),
                                np.asarray(vector),
                                hyp_seconds.get(label, 0.0),
                            )
                            for label, vector in diarization.embeddings.items()
                        ],
                        "reference": [
                            Voice(p, p, vector, persons[p]) for p, vector in reference.items()
                        ],
                    },
                )
            )
            print(
                f"{file.uri}: reference {sorted(persons)}; diarization "
                f"{[(v.label, v.person) for v in out[-1].voices['diarization']]}"
            )
    return out


@dataclass
class Tally:
    correct: int = 0
    wrong: int = 0
    missed: int = 0
    rejected: int = 0  # speakers not enrolled, rightly left unnamed
    enrolled_present: int = 0  # recall denominator

    def add(self, other: Tally) -> None:
        self.correct += other.correct
        self.wrong += other.wrong
        self.missed += other.missed
        self.rejected += other.rejected
        self.enrolled_present += other.enrolled_present

    @property
    def precision(self) -> float | None:
        named = self.correct + self.wrong
        return self.correct / named if named else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.enrolled_present if self.enrolled_present else None

    def row(self) -> dict[str, object]:
        return {
            "correct": self.correct,
            "wrong": self.wrong,
            "missed": self.missed,
            "correct rejections": self.rejected,
            "enrolled speakers present": self.enrolled_present,
            "precision": _round(self.precision),
            "recall": _round(self.recall),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def name_file(
    target: FileVoices,
    enrolled: list[EnrolledVoice],
    source: str,
    params: NamingParams,
    min_seconds: float = 0.0,
) -> Tally:
    """Name `target`'s speakers; only reference speakers with >= `min_seconds` of speech (and
    labels mapped to them, or unmapped) are scored."""
    known = {voice.person_id for voice in enrolled}
    voices = [
        v
        for v in target.voices[source]
        if v.person is None or target.persons[v.person] >= min_seconds
    ]
    matches = name_speakers({v.label: v.vector for v in voices}, enrolled, params)
    tally = Tally()
    present = {p for p, s in target.persons.items() if s >= min_seconds and p in known}
    for voice, match in zip(voices, matches, strict=True):
        if match.person_id is not None:
            if match.person_id == voice.person:
                tally.correct += 1
            else:
                tally.wrong += 1
        elif voice.person not in present:
            tally.rejected += 1
    tally.enrolled_present = len(present)
    # An enrolled person not named right was missed: left unnamed, given a wrong name, or never
    # found by the diarization at all.
    tally.missed = len(present) - tally.correct
    return tally


def _enrolment(files: Iterable[FileVoices], source: str) -> list[EnrolledVoice]:
    return [
        EnrolledVoice(v.person, v.vector)
        for f in files
        for v in f.voices[source]
        if v.person is not None
    ]


def pairwise(
    files: list[FileVoices],
    source: str,
    params: NamingParams,
    keep: str = "all",
    min_seconds: float = 0.0,
) -> Tally:
    """One-file enrolment, every ordered pair; `keep`: all, train (both train) or dev (any dev)."""
    total = Tally()
    for a, b in itertools.permutations(files, 2):
        splits = {a.split, b.split}
        if keep == "train" and splits != {"train"}:
            continue
        if keep == "dev" and "development" not in splits:
            continue
        total.add(name_file(b, _enrolment([a], source), source, params, min_seconds))
    return total


def leave_one_out(
    files: list[FileVoices], source: str, params: NamingParams, keep: str = "all"
) -> Tally:
    """Every other file enrolled at once (of the same split for `keep` = train)."""
    total = Tally()
    for target in files:
        if keep == "train" and target.split != "train":
            continue
        if keep == "dev" and target.split != "development":
            continue
        pool = [f for f in files if f is not target and (keep != "train" or f.split == "train")]
        total.add(name_file(target, _enrolment(pool, source), source, params))
    return total


Protocol = Callable[[list[FileVoices], str, NamingParams, str], Tally]


def _pairwise_protocol(
    files: list[FileVoices], source: str, params: NamingParams, keep: str
) -> Tally:
    return pairwise(files, source, params, keep)


PROTOCOLS: dict[str, Protocol] = {
    "one file enrolled (every ordered pair)": _pairwise_protocol,
    "all other files enrolled (several prints per person)": leave_one_out,
}


def choose(
    files: list[FileVoices], source: str, protocol: Protocol = _pairwise_protocol
) -> tuple[NamingParams, Tally, bool]:
    """Highest train recall with train precision >= target. Among the settings that tie, the
    smallest margin and top-k, and the middle of the tied thresholds (the edges sit on single
    voices). When nothing reaches the target, the most precise setting that names anyone."""
    feasible: list[tuple[float, float, int, float]] = []  # (recall, margin, top_k, threshold)
    fallback: tuple[float, float, NamingParams] | None = None
    for top_k, margin, threshold in itertools.product(TOP_KS, MARGINS, THRESHOLDS):
        params = NamingParams(threshold=threshold, margin=margin, top_k=top_k)
        tally = protocol(files, source, params, "train")
        precision, recall = tally.precision, tally.recall or 0.0
        if precision is None:
            continue
        if precision >= TARGET_PRECISION and recall > 0:
            feasible.append((recall, margin, top_k, threshold))
        elif fallback is None or (precision, threshold) > fallback[:2]:
            fallback = (precision, threshold, params)
    if feasible:
        recall = max(r for r, _, _, _ in feasible)
        margin, top_k = min((m, k) for r, m, k, _ in feasible if r == recall)
        tied = [t for r, m, k, t in feasible if r == recall and m == margin and k == top_k]
        params = NamingParams(
            threshold=round((min(tied) + max(tied)) / 2, 2), margin=margin, top_k=top_k
        )
        tally = protocol(files, source, params, "train")
        reached = tally.precision is not None and tally.precision >= TARGET_PRECISION
        return params, tally, reached
    if fallback is None:
        return NamingParams(threshold=1.0), Tally(), False
    params = fallback[2]
    return params, protocol(files, source, params, "train"), False


def similarity_distributions(files: list[FileVoices], source: str) -> dict[str, object]:
    """Cosine similarity of voiceprints of different files: same person versus different."""
    same: list[float] = []
    different: list[float] = []
    for a, b in itertools.combinations(files, 2):
        for u in a.voices[source]:
            for v in b.voices[source]:
                if u.person is None or v.person is None:
                    continue
                sim = float(np.dot(u.vector, v.vector))
                (same if u.person == v.person else different).append(sim)
    return {"same person": _quantiles(same), "different persons": _quantiles(different)}


def _quantiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0}
    q = np.quantile(values, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    names = ("min", "p5", "p25", "median", "p75", "p95", "max")
    return {"count": len(values), **{n: round(float(x), 3) for n, x in zip(names, q, strict=True)}}


def run(settings: MLSettings | None = None) -> dict[str, object]:
    settings = settings or MLSettings()
    began = time.perf_counter()
    files = collect(settings)
    report: dict[str, object] = {
        "embedder": settings.diarization_embedder,
        "data": "pyannote_debug (AMI), "
        + ", ".join(f"{f.uri} ({len(f.persons)} spk)" for f in files),
        "target precision": TARGET_PRECISION,
    }
    rows: list[dict[str, object]] = []
    sources: dict[str, object] = {}
    for source in SOURCES:
        detail: dict[str, object] = {}
        for protocol_name, protocol in PROTOCOLS.items():
            params, _, reached = choose(files, source, protocol)
            per_set = {keep: protocol(files, source, params, keep) for keep in ("train", "dev")}
            per_set["all"] = protocol(files, source, params, "all")
            if protocol is _pairwise_protocol:
                per_set["all, speakers with >= 3 s"] = pairwise(
                    files, source, params, "all", min_seconds=3.0
                )
            for keep, tally in per_set.items():
                rows.append(
                    {
                        "embedder": settings.diarization_embedder,
                        "voiceprints": source,
                        "protocol": protocol_name,
                        "threshold": params.threshold,
                        "margin": params.margin,
                        "top_k": params.top_k,
                        "files": keep,
                        **tally.row(),
                    }
                )
            detail[protocol_name] = {
                "chosen on train": {
                    "threshold": params.threshold,
                    "margin": params.margin,
                    "top_k": params.top_k,
                    "precision target reached on train": reached,
                },
                **{keep: tally.row() for keep, tally in per_set.items()},
            }
        detail["similarity"] = {
            "all files": similarity_distributions(files, source),
            "train files": similarity_distributions(
                [f for f in files if f.split == "train"], source
            ),
        }
        sources[source] = detail
    report["sources"] = sources
    report["rows"] = rows
    report["seconds"] = round(time.perf_counter() - began, 1)
    return report


def main() -> None:
    from benchmarks.diarization_quality import embedders
    from benchmarks.quality import markdown_table

    base = MLSettings()
    reports = {
        name: run(base.model_copy(update={"diarization_embedder": name})) for name in embedders()
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(reports, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for name, report in reports.items():
        rows = report["rows"]
        assert isinstance(rows, list)
        print(f"\n## {name}\n")
        print(markdown_table(rows))
        sources = report["sources"]
        assert isinstance(sources, dict)
        for source, detail in sources.items():
            print(f"{source}: similarity across files")
            for scope, dist in detail["similarity"].items():
                print(f"  {scope}: {json.dumps(dist, ensure_ascii=False)}")


if __name__ == "__main__":
    main()
