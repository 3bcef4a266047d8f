"""Hybrid retrieval: dense candidates from FAISS and lexical ones from FTS5, fused by rank.

Reciprocal rank fusion needs no score calibration between the two lists. After fusion,
near-duplicate passages (the same wire story on several sites) collapse into the best-ranked
one, and no article may fill more than `per_article` places.

Speed: the lexical search does not need the question's vector, so `embed_query` starts it on
a worker thread (SQLite and NumPy's BLAS both release the GIL) and `search` picks its result
up: BM25 over FTS5 and reading those rows (~8 ms at 28k passages) run on the second core
while the question is embedded (~10 ms) instead of after it. Rows are read only as far as
the fused list is walked, articles once per store generation, and a question asked again
reuses its vector.
"""

from __future__ import annotations

import functools
import math
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np

from index.database import PassageRow
from index.models import Article
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

QUERY_VECTORS_KEPT = 256  # questions whose vectors are kept (a question asked again)
ARTICLES_KEPT = 1000  # articles kept between searches, with their text (~11 KB each in news)

# Lexical searches started ahead of a question's embedding run here; shared by all searchers.
_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="newsbot-lexical")
        return _POOL


def _new_pool_after_fork() -> None:
    """A forked child has none of the parent's threads: it starts its own pool when needed."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_pool_after_fork)


@dataclass(frozen=True)
class _Lexical:
    """An unfiltered lexical search: its BM25 list and those passages' rows."""

    generation: int  # the store generation read before searching
    hits: list[tuple[int, float]]
    rows: dict[int, PassageRow]


class Searcher:
    def __init__(self, store: Store, settings: SearchSettings) -> None:
        self.store = store
        self.settings = settings
        # word -> passages holding it (at most the common limit), for one store generation
        self._df: dict[str, int] = {}
        self._idf_generation = -1
        self._passages = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()
        self._ahead = threading.local()  # (query, future) of the lexical search started ahead
        self._articles: tuple[int, dict[str, Article]] = (-1, {})

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
        counts = self._df  # one dict throughout: another thread may start a new one
        count = counts.get(word)
        if count is None:
            try:
                # Counting stops at the limit, so a very common word costs no more than that.
                # (SQL here rather than in database.py: one read-only FTS5 count.)
                count = self.store.db.connection().execute(
                    "SELECT count(*) FROM (SELECT rowid FROM passages_fts"
                    " WHERE passages_fts MATCH ? LIMIT ?)",
                    (f'"{word}"', self._common_limit(self._passages)),
                ).fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            counts[word] = count
        return count

    def embed_query(self, text: str) -> np.ndarray:
        """The question's vector. Also starts its lexical search on a worker thread, for the
        `search` of the same text that follows in this thread."""
        self._start_lexical(text)
        return self._vector(text)

    def _vector(self, text: str) -> np.ndarray:
        with self._vectors_lock:
            vec = self._vectors.get(text)
            if vec is not None:
                self._vectors.move_to_end(text)
                return vec.copy()
        vec = self.store.embedder.embed([text])[0]
        with self._vectors_lock:
            self._vectors[text] = vec.copy()
            while len(self._vectors) > QUERY_VECTORS_KEPT:
                self._vectors.popitem(last=False)
        return vec

    def forget_query_vectors(self) -> None:
        """Drop the kept question vectors (a benchmark timing the embedding wants this)."""
        with self._vectors_lock:
            self._vectors.clear()

    def _start_lexical(self, query: str) -> None:
        self._ahead.pending = (query, _pool().submit(self._lexical, query))

    def _take_lexical(self, query: str | None) -> Future[_Lexical] | None:
        """The lexical search started ahead for `query` in this thread, if any (None: drop
        whatever was started)."""
        pending = getattr(self._ahead, "pending", None)
        self._ahead.pending = None
        if pending is None:
            return None
        started_for, future = pending
        # A search for other text, or one not begun yet (every worker busy: this thread
        # does it sooner itself), is dropped.
        if started_for != query or future.cancel():
            future.cancel()
            return None
        return future

    def _lexical(self, query: str) -> _Lexical:
        """The unfiltered lexical search for `query`, with the rows of the passages found."""
        db = self.store.db
        generation = db.generation()
        terms = [t for t in content_words(query) if not self.is_common(t)]
        hits = db.lexical_search(terms, self.settings.candidates)
        rows = db.passages((pid for pid, _ in hits), self._article_cache(generation))
        return _Lexical(generation, hits, rows)

    def _article_cache(self, generation: int) -> dict[str, Article]:
        """Articles read by earlier searches of this store generation (a write starts anew)."""
        kept_generation, articles = self._articles
        if kept_generation != generation or len(articles) > ARTICLES_KEPT:
            articles = {}
            self._articles = (generation, articles)
        return articles

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
        unfiltered = lexical_terms is None and not (filters and filters.active)
        if query_vector is not None:
            qvec = query_vector
        elif unfiltered:
            qvec = self.embed_query(query)  # starts the lexical search ahead, on a worker
        else:
            qvec = self._vector(query)
        started = self._take_lexical(query if unfiltered else None)
        # FAISS, FTS5 and the rows are read one after another; a write committed in between
        # can leave ids that no longer exist (a rebuild renumbers every passage). Then the
        # search runs again, on the new generation.
        for _ in range(3):
            generation = self.store.db.generation()
            hits = self._search(
                query, limit or self.settings.top_k, filters, qvec, lexical_terms,
                started, generation,
            )
            started = None  # a retry searches afresh
            if self.store.db.generation() == generation:
                break
        return hits

    def _search(
        self, query: str, limit: int, filters: Filters | None, qvec: np.ndarray,
        lexical_terms: list[str] | None, started: Future[_Lexical] | None = None,
        generation: int | None = None,
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
        ready: _Lexical | None = None
        if started is not None:
            try:
                ready = started.result()
            except Exception:  # searched again below, where the error shows as it would have
                ready = None
            if ready is not None and ready.generation != generation:
                ready = None  # a write committed since it started
        rows: dict[int, PassageRow] = {}
        if ready is not None:
            lexical = ready.hits
            rows.update(ready.rows)
        else:
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
        # Best fused score first; equal scores keep the lower passage id first.
        order = sorted(fused, key=lambda pid: (-fused[pid], pid))
        articles = self._article_cache(generation) if generation is not None else None
        hits: list[Hit] = []
        kept_shingles: list[frozenset[str]] = []
        per_article: dict[str, int] = {}
        # Rows are read as the list is walked: duplicates and the per-article cap pass over
        # some, but a few more than `limit` nearly always fill it.
        start = 0
        while start < len(order) and len(hits) < limit:
            chunk = order[start : start + max(2 * (limit - len(hits)), limit - len(hits) + 10)]
            start += len(chunk)
            unread = [pid for pid in chunk if pid not in rows]
            if unread:
                rows.update(self.store.db.passages(unread, articles))
            for pid in chunk:
                row = rows.get(pid)
                if row is None:  # no longer stored
                    continue
                if per_article.get(row.article.id, 0) >= self.settings.per_article:
                    continue
                sh = _shingles(row.text)
                if any(near_duplicate(sh, other) for other in kept_shingles):
                    continue
                kept_shingles.append(sh)
                per_article[row.article.id] = per_article.get(row.article.id, 0) + 1
                if pid not in similarity:
                    similarity.update(self._similarities(index, qvec, [pid]))
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
