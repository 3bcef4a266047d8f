"""The query part: `NewsEngine.ask` per question on a real store (`--store`), as of the day it
was asked, split into finding the passages and reading them; and the retrieval alone."""

from __future__ import annotations

import argparse
import time
from datetime import date
from typing import TYPE_CHECKING

from parts.common import engine_for, peak_rss_mb, percentiles, questions, timed_answers

if TYPE_CHECKING:
    from bot.reader.answer import Answer
    from bot.reader.base import Reader
    from bot.reader.passages import Passages


class _TimedReader:
    """The engine's reader, timed per answer (a Reader: bot/reader/base.py), so that each
    answer's time splits into the reader's (sentence ranking, the answer) and the rest (the
    search, recency order, story versions), measured in the same pass: a second pass would
    find the reader's caches warm."""

    def __init__(self, inner: Reader) -> None:
        self.inner = inner
        self.name = inner.name
        self.ms: list[float] = []

    def answer(self, question: str, passages: Passages, day: date) -> Answer:
        started = time.perf_counter()
        try:
            return self.inner.answer(question, passages, day)
        finally:
            self.ms.append((time.perf_counter() - started) * 1000)

    def close(self) -> None:
        self.inner.close()


def phase_query(args: argparse.Namespace) -> dict:
    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings

    embedder = SentenceTransformerEmbedder(ModelSettings())
    engine = engine_for(args.store, embedder)
    # As the bot answers: with the lexical search's in-memory index, once it is built.
    lexical_index = not args.fts5_only and engine.keep_lexical_index(wait_s=300)
    reader = engine.reader = _TimedReader(engine.reader)
    qs = questions(args.questions)
    ms = timed_answers(engine, qs)
    reader_ms = reader.ms[-len(ms):]  # the warm-up answers left out
    search_ms = []
    for q, _ in qs:  # the retrieval part alone: question embedding, FAISS, FTS5, fusion
        started = time.perf_counter()
        engine.searcher.search(q, limit=engine.config.store.answer.passages_read)
        search_ms.append((time.perf_counter() - started) * 1000)
    return {
        "passages": engine.store.db.counts()[1], "index": engine.store.vector_index().kind,
        "lexical": "bm25 matrix" if lexical_index else "fts5",
        "answer": percentiles(ms),
        "finding_passages": percentiles([a - r for a, r in zip(ms, reader_ms, strict=True)]),
        "reader": percentiles(reader_ms),
        "search_only": percentiles(search_ms),
        "peak_rss_mb": round(peak_rss_mb()),
    }
