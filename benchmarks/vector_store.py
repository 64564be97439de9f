"""Vector store latency, insert time and memory at 100k transcript chunks, per embedded backend.

Backends: qdrant-client local mode in memory and on disk (brute force in numpy), and qdrant-edge
(Qdrant's engine in process: HNSW + payload indexes) on disk. A Qdrant server cannot run on
this machine (no server binary installs here, ../shared/INFRA.md), so the production path
(`MINUTA_QDRANT_URL`) is not measured.

Vectors: real e5 passage vectors of QMSum val chunks (chunked by ml_controller.vectors.chunks),
repeated with Gaussian noise and renormalised up to N points; queries are e5 query vectors of
QMSum's own queries. Points are spread over 100 tenants (1% each) and written 100 per call, as
`index_meeting` writes a meeting. Each backend runs in its own subprocess so its RSS delta is
its own. Latency is measured on a shared 2-core machine (other jobs were running).

    python -m benchmarks.vector_store                    # all backends, 100k points
    python -m benchmarks.vector_store --points 20000 --backends edge
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MINUTA_SHARED_DATA", REPO.parent / "shared" / "data"))
QMSUM_VAL = SHARED_DATA / "summarization" / "qmsum_val.jsonl"
RESULTS = REPO / "benchmarks" / "results" / "vector_store.json"
BACKENDS = ["local-memory", "local-disk", "edge"]
TENANTS = 100
PER_CALL = 100


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "mean_ms": round(float(ms.mean()), 2),
        "n": len(seconds),
    }


def prepare(work: Path, base_chunks: int) -> dict[str, Any]:
    """Embed QMSum chunks (passages) and queries once; workers load the arrays."""
    from core.results import Segment
    from ml_controller.text_embedding import TextEmbedder
    from ml_controller.vectors.chunks import transcript_chunks

    texts: list[str] = []
    queries: list[str] = []
    with QMSUM_VAL.open() as f:
        for line in f:
            record = json.loads(line)
            segments = [
                Segment(start=i, end=i + 1, speaker=t["speaker"], text=t["content"])
                for i, t in enumerate(record["meeting_transcripts"])
            ]
            texts += [c.text for c in transcript_chunks(segments, [])]
            queries += [q["query"] for q in record["specific_query_list"]]
    rng = np.random.default_rng(0)
    texts = [texts[i] for i in rng.permutation(len(texts))[:base_chunks]]
    embedder = TextEmbedder.from_settings()
    began = time.perf_counter()
    passages = embedder.embed_passages(texts)
    passage_rate = len(texts) / (time.perf_counter() - began)
    began = time.perf_counter()
    query_vectors = np.stack([embedder.embed_queries([q])[0] for q in queries])
    query_ms = (time.perf_counter() - began) / len(queries) * 1000
    np.save(work / "passages.npy", passages)
    np.save(work / "queries.npy", query_vectors)
    (work / "texts.json").write_text(json.dumps(texts))
    return {
        "base_chunks": len(texts),
        "queries": len(queries),
        "e5_passages_per_second": round(passage_rate, 1),
        "e5_query_embedding_ms": round(query_ms, 1),
    }


def _open(backend: str, folder: Path) -> Any:
    from ml_controller.vectors.client_backend import ClientBackend
    from ml_controller.vectors.edge_backend import EdgeBackend

    if backend == "local-memory":
        return ClientBackend.embedded(None)
    if backend == "local-disk":
        return ClientBackend.embedded(folder)
    return EdgeBackend(folder)


def worker(backend: str, work: Path, points: int, queries: int, filtered_queries: int) -> None:
    from ml_controller.vectors.backend import StoredPoint, Where, eq
    from ml_controller.vectors.schema import CHUNK_INDEXES, ensure_collection
    from ml_controller.vectors.store import point_id

    base = np.load(work / "passages.npy")
    query_vectors = np.load(work / "queries.npy")
    texts = json.loads((work / "texts.json").read_text())
    rng = np.random.default_rng(1)
    folder = work / f"store-{backend}"
    rss_before = _rss_mb()

    store = _open(backend, folder)
    ensure_collection(store, "chunks", base.shape[1], CHUNK_INDEXES)
    insert_seconds = 0.0
    for first in range(0, points, PER_CALL):
        ids = np.arange(first, min(first + PER_CALL, points))
        # Noise of this size keeps a copy at cosine ~0.9 to its source chunk.
        vectors = base[ids % len(base)] + rng.normal(0, 0.015, (len(ids), base.shape[1]))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        meeting = f"m{first // PER_CALL}"
        batch = [
            StoredPoint(
                point_id(f"t{i % TENANTS}", meeting, "chunk", int(i)),
                {
                    "tenant_id": f"t{i % TENANTS}",
                    "meeting_id": meeting,
                    "chunk_index": int(i - first),
                    "kind": "transcript",
                    "text": texts[i % len(texts)],
                    "start": float(i),
                    "end": float(i + 30),
                    "speaker": "S1",
                    "speakers": ["S1", "S2"],
                    "meeting_ts": 1.7e9 + float(first),
                },
                vectors[j].tolist(),
            )
            for j, i in enumerate(ids)
        ]
        began = time.perf_counter()
        store.upsert("chunks", batch)
        insert_seconds += time.perf_counter() - began
    rss_inserted = _rss_mb()

    def timed(n: int, where_for: Any) -> list[float]:
        out = []
        for k in range(n):
            vector = query_vectors[k % len(query_vectors)].tolist()
            began = time.perf_counter()
            hits = store.search("chunks", vector, where_for(k), 10)
            out.append(time.perf_counter() - began)
            assert len(hits) == 10
        return out

    timed(3, lambda k: Where())  # warm-up
    unfiltered = timed(queries, lambda k: Where())
    filtered = timed(filtered_queries, lambda k: Where(must=(eq("tenant_id", f"t{k % TENANTS}"),)))

    # Filtered recall@10 against exact search on the same tenant's points.
    recall = []
    for k in range(20):
        tenant = f"t{k % TENANTS}"
        ids = np.arange(k % TENANTS, points, TENANTS)
        got = {
            h.id
            for h in store.search(
                "chunks", query_vectors[k].tolist(), Where(must=(eq("tenant_id", tenant),)), 10
            )
        }
        stored = store.scroll("chunks", Where(must=(eq("tenant_id", tenant),)), with_vectors=True)
        matrix = np.asarray([p.vector for p in stored])
        best = {stored[i].id for i in np.argsort(-(matrix @ query_vectors[k]))[:10]}
        recall.append(len(got & best) / 10)
        assert len(stored) == len(ids)
    result = {
        "backend": backend,
        "points": points,
        "dim": int(base.shape[1]),
        "insert_seconds": round(insert_seconds, 1),
        "insert_points_per_second": round(points / insert_seconds, 1),
        "search_unfiltered": _percentiles(unfiltered),
        "search_tenant_filtered": _percentiles(filtered),
        "tenant_filtered_recall_at_10_vs_exact": round(float(np.mean(recall)), 3),
        "rss_delta_mb_after_insert": round(rss_inserted - rss_before, 1),
        "rss_delta_mb_end": round(_rss_mb() - rss_before, 1),
        "disk_mb": round(_dir_mb(folder), 1) if folder.exists() else 0.0,
    }
    store.close()
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--backends", nargs="+", default=BACKENDS, choices=BACKENDS)
    parser.add_argument("--base-chunks", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200, help="unfiltered searches (edge)")
    parser.add_argument("--local-queries", type=int, default=50, help="per kind, local mode")
    parser.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        n = args.queries if args.worker == "edge" else args.local_queries
        worker(args.worker, args.work, args.points, n, n)
        return

    with tempfile.TemporaryDirectory(prefix="minuta-vs-") as tmp:
        work = Path(tmp)
        prepared = prepare(work, args.base_chunks)
        runs = []
        for backend in args.backends:
            began = time.perf_counter()
            command = [
                sys.executable,
                "-m",
                "benchmarks.vector_store",
                "--worker",
                backend,
                "--work",
                str(work),
                "--points",
                str(args.points),
                "--queries",
                str(args.queries),
                "--local-queries",
                str(args.local_queries),
            ]
            done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
            run = json.loads(done.stdout.strip().splitlines()[-1])
            run["wall_seconds"] = round(time.perf_counter() - began, 1)
            print(json.dumps(run), flush=True)
            runs.append(run)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores shared with other jobs (timings are noisy)",
        "qdrant_server": "not measured: no Qdrant server binary can run on this machine",
        "tenants": TENANTS,
        "points_per_write_call": PER_CALL,
        **prepared,
        "runs": runs,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
