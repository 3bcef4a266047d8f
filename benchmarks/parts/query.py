"""The query part: `NewsEngine.ask` per question on a real store (`--store`), as of the day it
was asked, and the retrieval alone."""

from __future__ import annotations

import argparse
import time

from parts.common import engine_for, peak_rss_mb, percentiles, questions, timed_answers


def phase_query(args: argparse.Namespace) -> dict:
    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings

    embedder = SentenceTransformerEmbedder(ModelSettings())
    engine = engine_for(args.store, embedder)
    qs = questions(args.questions)
    ms = timed_answers(engine, qs)
    search_ms = []
    for q, _ in qs:  # the retrieval part alone: question embedding, FAISS, FTS5, fusion
        started = time.perf_counter()
        engine.searcher.search(q, limit=engine.config.store.answer.passages_read)
        search_ms.append((time.perf_counter() - started) * 1000)
    return {
        "passages": engine.store.db.counts()[1], "index": engine.store.vector_index().kind,
        "answer": percentiles(ms), "search_only": percentiles(search_ms),
        "peak_rss_mb": round(peak_rss_mb()),
    }
