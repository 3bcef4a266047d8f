"""The in-memory BM25 matrix against FTS5: the same top 50, and how fast?

    .venv/bin/python benchmarks/fts5_matrix.py --store /tmp/rtqa-store
        [--questions ../shared/data/realtimeqa-2025/questions.jsonl]

`--store` is a folder `newsbot eval realtimeqa --data-dir` kept (or any SQLite store). For
each question the search's own query terms (`Searcher._query_terms`) go to the store's
lexical search twice: first with FTS5 alone, then with the matrix a long-running process
keeps (index/sqlite/bm25.py, started by `keep_bm25_matrix`). It prints how long the matrix
took to build, how many questions got the same passages in the same order with the same
scores, and both searches' p50/p95/p99 (benchmarks/README.md, "Answer latency, fourth
round").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for parts.common

from parts.common import DATA, engine_for, questions  # puts the repository root on the path

LIMIT = 50  # the lexical candidates per question (SearchSettings.candidates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    args = parser.parse_args()

    from bot.evaluation.metrics import percentile
    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings

    engine = engine_for(args.store, SentenceTransformerEmbedder(ModelSettings()))
    db = engine.store.db
    cache = engine.searcher._cache()
    asked = [engine.searcher._query_terms(q, cache) for q, _ in questions(args.questions)]

    def timed() -> tuple[list[list[tuple[int, float]]], list[float]]:
        found, ms = [], []
        for terms in asked:
            started = time.perf_counter()
            found.append(db.lexical_search(terms, LIMIT))
            ms.append((time.perf_counter() - started) * 1000)
        return found, ms

    fts5, fts5_ms = timed()
    started = time.perf_counter()
    db.keep_bm25_matrix().wait()
    built_s = time.perf_counter() - started
    matrix = db.bm25_matrix()
    if matrix is None:
        sys.exit("no matrix was built (a store above BM25_MATRIX_MAX_PASSAGES?)")
    ours, matrix_ms = timed()
    pairs = list(zip(fts5, ours, strict=True))
    same_order = sum([p for p, _ in a] == [p for p, _ in b] for a, b in pairs)
    same_scores = sum(
        len(a) == len(b)
        and all(abs(x[1] - y[1]) <= 1e-9 * abs(x[1]) for x, y in zip(a, b, strict=True))
        for a, b in pairs
    )
    print(f"passages {matrix.passages}, words {len(matrix.words)}, entries {len(matrix.rows)},"
          f" {matrix.nbytes / 1e6:.1f} MB, built in {built_s:.1f} s")
    print(f"of {len(asked)} questions: the same top-{LIMIT} order for {same_order}, the same"
          f" scores (within 1e-9 relative) for {same_scores}")
    for name, ms in (("FTS5", fts5_ms), ("matrix", matrix_ms)):
        print(f"{name} p50/p95/p99 ms:",
              " / ".join(f"{percentile(ms, p):.2f}" for p in (50, 95, 99)))
    engine.close()


if __name__ == "__main__":
    main()
