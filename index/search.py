"""Hybrid retrieval: dense candidates from FAISS and lexical ones from FTS5, fused by rank.

Reciprocal rank fusion needs no score calibration between the two lists. After fusion,
near-duplicate passages (the same wire story on several sites) collapse into the best-ranked
one, and no article may fill more than `per_article` places.
"""

from __future__ import annotations

import functools
import math
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np

from index.database import PassageRow
from index.settings import SearchSettings
from index.store import Store
from index.text import content_words


@dataclass(frozen=True)
class Hit:
    passage: PassageRow
    score: float  # fused score, higher is better
    similarity: float  # cosine similarity of question and passage
    lexical_rank: int | None  # 1-based rank in the BM25 list, None when absent


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.source or self.since or self.until)


@contextmanager
def _one_faiss_thread() -> Iterator[None]:
    """Search one query with one OpenMP thread (the setting is per calling thread).

    One query gains little from threads, and on a small machine its threads start while the
    BLAS threads that just embedded the question still spin: measured on 2 cores, a 20k
    search took ~13 ms with two threads after embedding and ~1.5 ms with one."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


@functools.lru_cache(maxsize=20_000)
def _shingles(text: str) -> frozenset[str]:
    toks = content_words(text)
    return frozenset(" ".join(toks[i : i + 3]) for i in range(max(1, len(toks) - 2)))


def near_duplicate(a: frozenset[str], b: frozenset[str], threshold: float = 0.6) -> bool:
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= threshold


# A word in this share of the passages, or in this many, is left out of the lexical search:
# BM25 scores every passage that holds a query word, so such a word costs more than it tells
# (on a million passages, ~130 ms a question with no limit, ~15 ms with 10,000).
COMMON_SHARE = 0.2
COMMON_MAX_PASSAGES = 10_000
COMMON_MIN_PASSAGES = 200  # ...once the store is big enough for shares to mean something


class Searcher:
    def __init__(self, store: Store, settings: SearchSettings) -> None:
        self.store = store
        self.settings = settings
        # word -> passages holding it (at most the common limit), for one store generation
        self._df: dict[str, int] = {}
        self._idf_generation = -1
        self._passages = 0

    def idf(self, words: Iterable[str]) -> dict[str, float]:
        """Inverse passage frequency of each word in the store (BM25's form), rare words high.

        Counted with the full-text index, which stems each word as it stemmed the passages,
        up to the common-word limit (a commoner word gets the limit's value); counts are
        cached until the store changes.
        """
        n = self._refresh_counts()
        return {
            w: math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            for w, df in ((w, self._frequency(w)) for w in words)
        }

    def is_common(self, word: str) -> bool:
        """Is `word` in so many passages (see COMMON_SHARE) that it is a stop word here?"""
        n = self._refresh_counts()
        return n >= COMMON_MIN_PASSAGES and self._frequency(word) >= self._common_limit(n)

    def _refresh_counts(self) -> int:
        generation = self.store.db.generation()
        if generation != self._idf_generation:
            self._df, self._idf_generation = {}, generation
            self._passages = self.store.db.counts()[1]
        return self._passages

    @staticmethod
    def _common_limit(n: int) -> int:
        return max(1, min(int(n * COMMON_SHARE), COMMON_MAX_PASSAGES))

    def _frequency(self, word: str) -> int:
        if word not in self._df:
            try:
                # Counting stops at the limit, so a very common word costs no more than that.
                # (SQL here rather than in database.py: one read-only FTS5 count.)
                self._df[word] = self.store.db.connection().execute(
                    "SELECT count(*) FROM (SELECT rowid FROM passages_fts"
                    " WHERE passages_fts MATCH ? LIMIT ?)",
                    (f'"{word}"', self._common_limit(self._passages)),
                ).fetchone()[0]
            except sqlite3.OperationalError:
                self._df[word] = 0
        return self._df[word]

    def embed_query(self, text: str) -> np.ndarray:
        return self.store.embedder.embed([text])[0]

    def search(
        self,
        query: str,
        *,
        limit: int | None = None,
        filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
        lexical_terms: list[str] | None = None,
    ) -> list[Hit]:
        """The best passages for `query`, best first, at most `limit` (default: top_k)."""
        qvec = query_vector if query_vector is not None else self.embed_query(query)
        # FAISS, FTS5 and the rows are read one after another; a write committed in between
        # can leave ids that no longer exist (a rebuild renumbers every passage). Then the
        # search runs again, on the new generation.
        for _ in range(3):
            generation = self.store.db.generation()
            hits = self._search(query, limit or self.settings.top_k, filters, qvec, lexical_terms)
            if self.store.db.generation() == generation:
                break
        return hits

    def _search(
        self, query: str, limit: int, filters: Filters | None, qvec: np.ndarray,
        lexical_terms: list[str] | None,
    ) -> list[Hit]:
        index = self.store.vector_index()
        allowed: list[int] | None = None
        if filters and filters.active:
            allowed = self.store.db.filtered_passage_ids(
                filters.source, filters.since, filters.until
            )
        n = self.settings.candidates
        with _one_faiss_thread():
            dense = index.search(qvec, n, allowed)
        if lexical_terms is not None:
            terms = lexical_terms
        else:
            terms = [t for t in content_words(query) if not self.is_common(t)]
        lexical = self.store.db.lexical_search(
            terms, n, set(allowed) if allowed is not None else None
        )
        k = self.settings.rrf_k
        fused: dict[int, float] = {}
        for rank, (pid, _) in enumerate(dense, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + rank)
        lexical_rank: dict[int, int] = {}
        for rank, (pid, _) in enumerate(lexical, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + rank)
            lexical_rank[pid] = rank
        similarity = dict(dense)
        rows = self.store.db.passages(fused)
        missing = [pid for pid in rows if pid not in similarity]
        if missing:
            similarity.update(self._similarities(index, qvec, missing))
        ordered = sorted(rows, key=lambda pid: fused[pid], reverse=True)
        hits: list[Hit] = []
        kept_shingles: list[frozenset[str]] = []
        per_article: dict[str, int] = {}
        for pid in ordered:
            row = rows[pid]
            if per_article.get(row.article.id, 0) >= self.settings.per_article:
                continue
            sh = _shingles(row.text)
            if any(near_duplicate(sh, other) for other in kept_shingles):
                continue
            kept_shingles.append(sh)
            per_article[row.article.id] = per_article.get(row.article.id, 0) + 1
            hits.append(Hit(row, fused[pid], similarity.get(pid, 0.0), lexical_rank.get(pid)))
            if len(hits) >= limit:
                break
        return hits

    @staticmethod
    def _similarities(index, qvec: np.ndarray, ids: list[int]) -> dict[int, float]:  # type: ignore[no-untyped-def]
        out: dict[int, float] = {}
        for pid in ids:
            try:
                vec = index.index.reconstruct(int(pid))
            except RuntimeError:
                continue
            out[pid] = float(np.dot(vec, qvec))
        return out
