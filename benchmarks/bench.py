"""Speed benchmark: indexing throughput, query latency at ~20k and 1M passages, memory, cold start.

Run from the repository root (see benchmarks/README.md for the full recipe):

    .venv/bin/python benchmarks/bench.py --store /tmp/rtqa-store

Each part runs in its own process, so each reports its own peak memory (max RSS):

- index: the same passages embedded by bare `SentenceTransformer.encode` (same model, same
  batch size) and indexed end to end (`NewsEngine.add_articles`: cutting, embedding, SQLite
  and FTS5 rows, FAISS, the atomic commit), alternating, best of the rounds;
- query: `NewsEngine.ask` per question, as of the day it was asked (as `newsbot eval` asks),
  on a real store (`--store`, e.g. the one `newsbot eval realtimeqa --data-dir` keeps), the
  model loaded, after a warm-up;
- million: a synthetic store of `--million` passages (text drawn at random from the real
  articles' vocabulary, random unit vectors) with the approximate IVF index, asked the real
  questions with the real model;
- cold: `newsbot ask` as a new process on a small store, wall-clock;
- collections (not in the default set): `--million` synthetic passages over `--collections`
  collections, a question searching one server's collection plus the shared one: one index
  with a FAISS id selector (flat, IVF) against one index per collection, and FTS5 with the
  collection filter inside the query.

Each part is a module of benchmarks/parts/ (index: indexing.py, million and its synthetic
store: million.py, collections: collection_filter.py, pg1m and pgparity: pg.py, concurrent:
concurrent.py); this file is their command line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from parts.cold import phase_cold
from parts.collection_filter import phase_collections
from parts.common import DATA
from parts.concurrent import phase_askers, phase_concurrent
from parts.indexing import phase_index
from parts.million import phase_million
from parts.pg import phase_ask, phase_pg1m, phase_pgparity
from parts.query import phase_query

PHASES = {
    "index": phase_index, "query": phase_query, "million": phase_million, "cold": phase_cold,
    "collections": phase_collections, "pg1m": phase_pg1m, "concurrent": phase_concurrent,
    "pgparity": phase_pgparity,
    "ask": phase_ask, "askers": phase_askers,  # internal: one store, one process
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="index,query,million,cold",
                        help="comma-separated parts to run (default: all)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one part here
    parser.add_argument("--articles", type=Path, default=DATA / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    parser.add_argument("--store", type=Path, help="a built store for the query part")
    parser.add_argument("--fts5-only", action="store_true",
                        help="query part: rank with FTS5 alone, as before the in-memory BM25"
                        " index (the bot keeps one: index/sqlite/lexical.py)")
    parser.add_argument("--passages", type=int, default=1500, help="passages to index")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the index part")
    parser.add_argument("--million", type=int, default=1_000_000, help="synthetic passages")
    parser.add_argument("--million-words", type=int, default=60, help="words a synthetic passage")
    parser.add_argument("--million-dir", type=Path, help="build the synthetic store here, kept")
    parser.add_argument("--collections", type=int, default=1000,
                        help="collections of the collections part")
    parser.add_argument("--skip-ivf", action="store_true",
                        help="collections part: leave out the IVF index (its training is slow)")
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--cold-runs", type=int, default=4)
    parser.add_argument("--pg-url", help="PostgreSQL (an administrator's URL) for the pg1m and"
                        " concurrent parts; default: an embedded PostgreSQL started for the run")
    parser.add_argument("--pg-shared-buffers", default="2GB",
                        help="shared_buffers of the embedded PostgreSQL")
    parser.add_argument("--pg-maintenance-mem", default="4GB",
                        help="maintenance_work_mem for building the indexes")
    parser.add_argument("--pg-hnsw-m", type=int, default=None,
                        help="HNSW m of the pg1m and pgparity copies (default: the product's)")
    parser.add_argument("--pg-build-workers", type=int, default=1,
                        help="max_parallel_maintenance_workers for building the indexes")
    parser.add_argument("--pg-build-timeout-s", type=float, default=0,
                        help="cancel the HNSW build after this long (0: never)")
    parser.add_argument("--processes", type=int, default=2, help="concurrent: asker processes")
    parser.add_argument("--threads", type=int, default=4, help="concurrent: askers a process")
    parser.add_argument("--ask-rounds", type=int, default=1,
                        help="concurrent: times each process asks every question")
    parser.add_argument("--ask-url", help=argparse.SUPPRESS)
    parser.add_argument("--ask-index", default="flat", help=argparse.SUPPRESS)
    parser.add_argument("--ask-offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return
    results = {}
    for name in [p.strip() for p in args.phases.split(",") if p.strip()]:
        if name == "query" and not args.store:
            print("query: skipped (give --store DIR, a built store)", flush=True)
            continue
        command = [sys.executable, __file__, "--phase", name, *sys.argv[1:]]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}", flush=True)
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        results[name]["wall_s"] = round(time.perf_counter() - started, 1)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
