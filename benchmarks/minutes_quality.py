"""Minutes quality on QMSum val: the system against a naive prompt and an extractive baseline.

Data: ``../shared/data/summarization/qmsum_val.jsonl`` (35 meetings; AMI, ICSI, parliamentary
committees; MIT / CC BY 4.0). The reference summary is the answer to ``general_query_list[0]``
("Summarize the whole meeting"); ``topic_list`` gives the reference topics with their utterance
spans. QMSum has no times: each utterance lasts its word count at 150 words per minute (as in
``topics_quality``). Speakers keep QMSum's names ("Grad A", "Professor B").

Contenders, all on the same engine (the default: in-process llama.cpp on the packaged
Qwen2.5-Coder-1.5B-Instruct unless MINUTA_LLM_* says otherwise):

* ``system``: what ``minuta process`` does after ASR: e5 topic segmentation, then
  ``write_minutes`` (one call when the meeting fits the context, map → reduce otherwise).
  Its text for ROUGE/BERTScore is ``minutes.summary``; ``system+topics`` appends the topic
  summaries (same run, no extra LLM call).
* ``naive``: one prompt "Summarize this meeting." with the transcript, cut from the end to fit
  the context; the share of transcript tokens cut is recorded.
* ``extractive``: e5 centroid-central sentences (``ml_controller.minutes.extractive``) up to the
  system summary's word count for the same meeting (the mean reference length when the system
  wrote nothing).

Metrics: ROUGE-1/2/L F1 (rouge-score, Porter stemmer); BERTScore F1 (bert-score) on a LOCAL
model, the e5 sentence-transformers directory (a BertModel), layer ``BERTSCORE_LAYER``, no
baseline rescaling, so not comparable to the seeds' 0.93 (another BERTScore model); schema-valid
rate; owner-validity rate (owners that are speakers / all proposed, dropped ones included);
coverage: a reference topic counts as covered when the minutes topic most similar to its name
(e5 query → "title: summary" passage) overlaps its time span; seconds per meeting.

Meetings are taken shortest first (``--limit N``; ``--limit 0`` is all 35). Results are written
after every meeting, so an interrupted run keeps what it finished (``--resume`` goes on).

    python -m benchmarks.minutes_quality --limit 3
    python -m benchmarks.minutes_quality --limit 0          # the full val split
    python -m benchmarks.minutes_quality --limit 0 --resume # go on after an interruption
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.results import Minutes, Segment, Speaker
from ml_controller.llm.base import ChatMessage, LLMEngine
from ml_controller.minutes.extractive import extractive_summary
from ml_controller.minutes.salvage import is_cut_off, parse_lenient
from ml_controller.minutes.schema import check_minutes
from ml_controller.minutes.transcript import render, to_lines
from ml_controller.settings import MLSettings
from ml_controller.text_embedding import TextEmbedder

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINUTA_SHARED_DATA", REPO.parent / "shared" / "data"))
QMSUM_VAL = "summarization/qmsum_val.jsonl"
RESULTS = REPO / "benchmarks" / "results" / "minutes_quality.json"
WORDS_PER_SECOND = 2.5  # 150 words per minute
# bert-score's own choice for 12-layer BERT-base is layer 9; the same depth for e5-small.
BERTSCORE_LAYER = 9
NAIVE_MAX_TOKENS = 512
NAIVE_PROMPT = "Summarize this meeting."
CONTENDERS = ("system", "system+topics", "naive", "extractive")


@dataclass
class Meeting:
    id: str
    segments: list[Segment]
    speakers: list[Speaker]
    reference: str
    topics: list[tuple[str, list[tuple[float, float]]]]  # reference topic → time spans
    words: int
    duration: float


@dataclass
class Run:
    """One contender on one meeting."""

    text: str = ""
    seconds: float = 0.0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


def _clean(text: str) -> str:
    """Drop QMSum's {disfmarker}/{vocalsound}/... tags and collapse spaces."""
    return re.sub(r"\s+", " ", re.sub(r"\{[^}]*\}", " ", text)).strip()


def load_meetings(path: Path) -> list[Meeting]:
    meetings: list[Meeting] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            utterances = row["meeting_transcripts"]
            texts = [_clean(u["content"]) for u in utterances]
            # Times for every utterance (empty ones too) so topic spans index them directly.
            lengths = np.array([max(1, len(t.split())) / WORDS_PER_SECOND for t in texts])
            ends = np.cumsum(lengths)
            starts = ends - lengths
            segments = [
                Segment(start=float(s), end=float(e), speaker=u["speaker"].strip(), text=t)
                for u, t, s, e in zip(utterances, texts, starts, ends, strict=True)
                if t
            ]
            topics = []
            for topic in row["topic_list"]:
                spans = []
                for a, b in topic["relevant_text_span"]:
                    lo, hi = sorted((int(a), int(b)))
                    hi = min(hi, len(texts) - 1)
                    if lo <= hi:
                        spans.append((float(starts[lo]), float(ends[hi])))
                if spans:
                    topics.append((topic["topic"], spans))
            speakers = [Speaker(id=label) for label in dict.fromkeys(s.speaker for s in segments)]
            meetings.append(
                Meeting(
                    id=row["id"],
                    segments=segments,
                    speakers=speakers,
                    reference=row["general_query_list"][0]["answer"],
                    topics=topics,
                    words=sum(len(t.split()) for t in texts),
                    duration=float(ends[-1]),
                )
            )
    return meetings


# --------------------------------------------------------------------------- contenders


def run_system(
    meeting: Meeting,
    engine: LLMEngine,
    embedder: TextEmbedder,
    settings: MLSettings,
    language: str = "en",
) -> tuple[Run, Minutes | None]:
    from ml_controller.minutes.writer import write_minutes
    from ml_controller.topics.segmenter import segment_topics, topic_params

    began = time.perf_counter()
    run = Run()
    try:
        topics = segment_topics(meeting.segments, embedder, topic_params(settings))
        outcome = write_minutes(
            meeting.segments, topics, meeting.speakers, language, meeting.duration, engine, settings
        )
    except Exception as exc:  # a failed meeting is a result (schema-invalid), not a crash
        run.error = f"{type(exc).__name__}: {exc}"
        run.seconds = round(time.perf_counter() - began, 2)
        traceback.print_exc()
        return run, None
    run.seconds = round(time.perf_counter() - began, 2)
    minutes = outcome.minutes
    run.text = minutes.summary
    run.extra = {
        "mode": outcome.mode,
        "parts": outcome.parts,
        "llm_calls": outcome.llm_calls,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "repairs": outcome.repairs,
        "salvaged": outcome.salvaged,
        "segmenter_topics": len(topics),
        "minutes_topics": len(minutes.topics),
        "decisions": len(minutes.decisions),
        "action_items": len(minutes.action_items),
        "fixes": asdict(outcome.fixes),
        "title": minutes.title,
    }
    return run, minutes


def naive_messages(
    meeting: Meeting,
    engine: LLMEngine,
    settings: MLSettings,
    prompt: str = NAIVE_PROMPT,
    max_tokens: int = NAIVE_MAX_TOKENS,
) -> tuple[str, float]:
    """The naive prompt's user text with the transcript cut to fit; and the share cut."""
    lines = to_lines(meeting.segments, meeting.speakers)
    budget = settings.llm_context - max_tokens - 64  # 64: chat template and JSON frame
    head = f"{prompt}\n\nTranscript:\n"
    total = engine.count_tokens(render(lines))
    used = engine.count_tokens(head)
    kept = 0
    for line in lines:
        size = engine.count_tokens(line.render() + "\n")
        if used + size > budget:
            break
        used += size
        kept += 1
    text = head + render(lines[:kept])
    cut = 1.0 - engine.count_tokens(render(lines[:kept])) / max(total, 1)
    return text, round(max(cut, 0.0), 4)


def run_naive(meeting: Meeting, engine: LLMEngine, settings: MLSettings) -> Run:
    began = time.perf_counter()
    run = Run()
    schema = {
        "type": "object",
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
        "additionalProperties": False,
    }
    try:
        prompt, cut = naive_messages(meeting, engine, settings)
        run.extra["cut_share"] = cut
        answer = engine.complete_json(
            [ChatMessage("user", prompt)], schema, max_tokens=NAIVE_MAX_TOKENS, task="summary"
        )
        # A summary cut off at the token limit still counts, as a reader would see it.
        run.extra["cut_off"] = is_cut_off(answer)
        parsed = parse_lenient(answer)
        run.text = str(parsed.get("summary", "") if isinstance(parsed, dict) else "").strip()
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    run.seconds = round(time.perf_counter() - began, 2)
    return run


def run_extractive(meeting: Meeting, embedder: TextEmbedder, max_words: int) -> Run:
    began = time.perf_counter()
    summary = extractive_summary([s.text for s in meeting.segments], embedder, max_words)
    return Run(
        text=summary.text,
        seconds=round(time.perf_counter() - began, 2),
        extra={"target_words": max_words, "candidates": summary.candidates},
    )


# --------------------------------------------------------------------------- metrics


class Scorer:
    def __init__(self, bert_model: Path) -> None:
        from bert_score import BERTScorer
        from rouge_score import rouge_scorer

        self.rouge = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
        self.bert = BERTScorer(
            model_type=str(bert_model),
            num_layers=BERTSCORE_LAYER,
            use_fast_tokenizer=True,  # the directory has tokenizer.json only
            device="cpu",
        )

    def text_scores(self, candidate: str, reference: str) -> dict[str, float]:
        if not candidate.strip():
            return {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "bertscore_f1": 0.0}
        rouge = self.rouge.score(reference, candidate)
        _, _, f1 = self.bert.score([candidate], [reference])
        return {
            "rouge1": rouge["rouge1"].fmeasure,
            "rouge2": rouge["rouge2"].fmeasure,
            "rougeL": rouge["rougeL"].fmeasure,
            "bertscore_f1": float(f1[0]),
        }


def owner_validity(minutes: Minutes, meeting: Meeting, dropped: int) -> tuple[int, int]:
    """(owners that are speakers, all proposed items including those post-validation dropped)."""
    names = {s.id for s in meeting.speakers}
    valid = sum(1 for item in minutes.action_items if item.owner in names)
    return valid, len(minutes.action_items) + dropped


def coverage(minutes: Minutes, meeting: Meeting, embedder: TextEmbedder) -> tuple[int, int, float]:
    """(reference topics covered, reference topics, mean best cosine)."""
    if not meeting.topics or not minutes.topics:
        return 0, len(meeting.topics), 0.0
    queries = embedder.embed_queries([name for name, _ in meeting.topics])
    passages = embedder.embed_passages([f"{t.title}: {t.summary}" for t in minutes.topics])
    sims = queries @ passages.T
    covered = 0
    for row, (_, spans) in zip(sims, meeting.topics, strict=True):
        best = minutes.topics[int(np.argmax(row))]
        if any(min(best.end, b) - max(best.start, a) > 0 for a, b in spans):
            covered += 1
    return covered, len(meeting.topics), float(sims.max(axis=1).mean())


def schema_valid(minutes: Minutes | None) -> bool:
    if minutes is None:
        return False
    try:
        check_minutes(minutes)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------- report


def summarize(per_meeting: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    table: dict[str, dict[str, float | None]] = {}
    for name in CONTENDERS:
        runs = [m["runs"][name] for m in per_meeting if name in m["runs"]]
        if not runs:
            continue
        row: dict[str, float | None] = {"meetings": len(runs)}
        for key in ("rouge1", "rouge2", "rougeL", "bertscore_f1"):
            row[key] = round(float(np.mean([r["scores"].get(key, 0.0) for r in runs])), 4)
        row["seconds_per_meeting"] = round(float(np.mean([r["seconds"] for r in runs])), 1)
        row["summary_words"] = round(float(np.mean([len(r["text"].split()) for r in runs])), 1)
        row["errors"] = sum(1 for r in runs if r["error"])
        table[name] = row
    system = [m for m in per_meeting if "system" in m["runs"]]
    if system and "system" in table:
        valid = [m["quality"]["schema_valid"] for m in system]
        owners_ok = sum(m["quality"]["owners_valid"] for m in system)
        owners_all = sum(m["quality"]["owners_proposed"] for m in system)
        cov_hit = sum(m["quality"]["topics_covered"] for m in system)
        cov_all = sum(m["quality"]["reference_topics"] for m in system)
        table["system"].update(
            schema_valid_rate=round(sum(valid) / len(valid), 4),
            owner_validity_rate=round(owners_ok / owners_all, 4) if owners_all else None,
            owners_proposed=owners_all,
            coverage=round(cov_hit / cov_all, 4) if cov_all else None,
        )
    naive = [
        m["runs"]["naive"]["extra"].get("cut_share", 0.0)
        for m in per_meeting
        if "naive" in m["runs"]
    ]
    if naive and "naive" in table:
        table["naive"]["transcript_cut_share"] = round(float(np.mean(naive)), 4)
    return table


def markdown(table: dict[str, dict[str, float | None]]) -> str:
    def cell(value: float | None, digits: int = 3) -> str:
        if value is None:
            return "—"
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = [
        "| contender | n | ROUGE-1 | ROUGE-2 | ROUGE-L | BERTScore F1 | words | s/meeting "
        "| schema-valid | owner-valid | coverage |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['meetings']} | {cell(row['rouge1'])} | {cell(row['rouge2'])} "
            f"| {cell(row['rougeL'])} | {cell(row['bertscore_f1'])} "
            f"| {cell(row['summary_words'], 0)} | {cell(row['seconds_per_meeting'], 0)} "
            f"| {cell(row.get('schema_valid_rate'), 2)} "
            f"| {cell(row.get('owner_validity_rate'), 2)} | {cell(row.get('coverage'), 2)} |"
        )
    return "\n".join(lines)


def model_label(settings: MLSettings) -> str:
    """The model the settings' LLM engine runs, as the result files name it."""
    if settings.llm_engine == "llamacpp":
        from ml_controller.llm.llamacpp_engine import model_path

        path = model_path(settings)
        return f"{path.parent.name}/{path.name}"
    return settings.llm_model_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=3, help="shortest N meetings; 0 = all")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--no-llm",
        action="store_true",
        help="extractive baseline only, at the mean reference length (no engine needed)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="keep meetings already in --out, run the rest"
    )
    args = parser.parse_args(argv)

    from ml_controller.llm.factory import make_engine
    from ml_controller.settings import get_settings
    from ml_controller.text_embedding import default_model_dir

    settings = get_settings()
    engine = None if args.no_llm else make_engine(settings)
    if engine is None and not args.no_llm:
        print("MINUTA_LLM_ENGINE=none: nothing to benchmark", file=sys.stderr)
        return 2
    meetings = sorted(load_meetings(SHARED_DATA / QMSUM_VAL), key=lambda m: m.words)
    total = len(meetings)
    if args.limit > 0:
        meetings = meetings[: args.limit]
    e5_dir = default_model_dir(settings)
    embedder = TextEmbedder(e5_dir, threads=settings.threads)
    scorer = Scorer(e5_dir)
    reference_words = float(np.mean([len(m.reference.split()) for m in meetings]))

    model = "none" if args.no_llm else model_label(settings)
    header = {
        "dataset": f"QMSum val ({QMSUM_VAL}), shortest {len(meetings)} of {total} meetings",
        "selection": "shortest first by transcript word count",
        "engine": "none" if args.no_llm else settings.llm_engine,
        "model": model,
        "adapter": str(settings.llm_lora_path) if settings.llm_lora_path else None,
        "llm_context": settings.llm_context,
        "bertscore": {
            "model": str(e5_dir),
            "layer": BERTSCORE_LAYER,
            "rescaled": False,
            "note": "multilingual-e5-small; not comparable to BERTScore with another model",
        },
        "extractive_length": "mean reference word count"
        if args.no_llm
        else "system summary's word count per meeting (mean reference length if empty)",
        "coverage": "reference topic covered when its best e5 match among minutes topics "
        "overlaps its time span",
    }
    per_meeting: list[dict[str, Any]] = []
    if args.resume and args.out.is_file():
        wanted = {m.id for m in meetings}
        done = json.loads(args.out.read_text(encoding="utf-8"))["meetings"]
        per_meeting = [m for m in done if m["id"] in wanted]
    finished = {m["id"] for m in per_meeting}
    for meeting in meetings:
        if meeting.id in finished:
            continue
        print(f"{meeting.id}: {meeting.words} words", file=sys.stderr, flush=True)
        runs: dict[str, Run] = {}
        system, minutes = Run(), None
        if engine is not None:
            system, minutes = run_system(meeting, engine, embedder, settings)
            print(f"  system {system.seconds}s {system.extra.get('mode')}", file=sys.stderr)
            runs["system"] = system
        if minutes is not None:
            topics_text = " ".join(t.summary for t in minutes.topics if t.summary)
            runs["system+topics"] = Run(
                text=f"{minutes.summary} {topics_text}".strip(), seconds=system.seconds
            )
        if engine is not None and not args.skip_naive:
            runs["naive"] = run_naive(meeting, engine, settings)
            print(f"  naive {runs['naive'].seconds}s", file=sys.stderr)
        target = len(system.text.split()) or round(reference_words)
        runs["extractive"] = run_extractive(meeting, embedder, target)
        for run in runs.values():
            run.scores = scorer.text_scores(run.text, meeting.reference)
        quality: dict[str, Any] = {"schema_valid": schema_valid(minutes)}
        if engine is None:
            quality = {}
        elif minutes is not None:
            dropped = int(system.extra["fixes"]["items_dropped"])
            quality["owners_valid"], quality["owners_proposed"] = owner_validity(
                minutes, meeting, dropped
            )
            hit, n, best = coverage(minutes, meeting, embedder)
            quality.update(topics_covered=hit, reference_topics=n, mean_best_cosine=best)
        else:
            quality.update(
                owners_valid=0,
                owners_proposed=0,
                topics_covered=0,
                reference_topics=len(meeting.topics),
            )
        per_meeting.append(
            {
                "id": meeting.id,
                "words": meeting.words,
                "reference": meeting.reference,
                "quality": quality,
                "runs": {name: asdict(run) for name, run in runs.items()},
            }
        )
        table = summarize(per_meeting)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({**header, "summary": table, "meetings": per_meeting}, indent=1) + "\n",
            encoding="utf-8",
        )
    print(markdown(summarize(per_meeting)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
