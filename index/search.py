"""Hybrid retrieval: dense candidates from FAISS and lexical ones from FTS5, fused by rank.

Reciprocal rank fusion needs no score calibration between the two lists. After fusion,
near-duplicate passages (the same wire story on several sites) collapse into the best-ranked
one, and no article may fill more than `per_article` places.

Speed: the lexical search does not need the question's vector, so `embed_query` starts it on
a worker thread (SQLite and ONNX Runtime both release the GIL) and `search` picks its result
up: BM25 and reading those rows run on the second core while the question is embedded
(~4–7 ms) instead of after it. In a long-running process the SQLite store ranks with an
in-memory copy of FTS5's BM25 (index/sqlite/lexical.py: ~1 ms against FTS5's 10–25 at 40k
passages). Rows are read only as far as the fused list is walked, and articles once per store
generation.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

import numpy as np

from index.models import Article, PassageRow, TermStats
from index.settings import SearchSettings
from index.sqlite.vectors import VectorIndex
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
    """What a search may return. `collections`: the collections searched (None: every
    article, as the evaluation and benchmarks search a store of their own)."""

    source: str | None = None
    since: str | None = None
    until: str | None = None
    collections: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        """Source or date filters (the collections are not counted here)."""
        return bool(self.source or self.since or self.until)


@functools.lru_cache(maxsize=20_000)
def _shingle_list(text: str) -> tuple[str, ...]:
    # A tuple, not a set, is cached: see _stem_list in bot/reader/ranking.py.
    toks = content_words(text)
    return tuple(" ".join(toks[i : i + 3]) for i in range(max(1, len(toks) - 2)))


def _shingles(text: str) -> frozenset[str]:
    """The passage's runs of three content words, for finding near-duplicates."""
    return frozenset(_shingle_list(text))


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

SCOPES_KEPT = 256  # collection scopes kept per generation (one or two per server)
# A scope of at most this many passages, and at most SUBSET_SHARE of the store, is searched
# over a flat copy of its own vectors (built on its first question after a write) instead of
# the whole index with an id selector: see "Collections" in benchmarks/README.md.
SUBSET_MAX = 50_000
SUBSET_SHARE = 0.25
SUBSET_VECTORS_KEPT = 250_000  # vectors kept in such copies per generation (~380 MB at 384)
CLOSE_WAIT_S = 30.0  # `Searcher.close` waits this long at most for its searches started ahead
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


@dataclass(frozen=True)
class _GenerationCache:
    """What searches keep about one store generation; a write starts a new one."""

    generation: int
    passages: int  # passages stored
    # word -> passages holding it, counted up to `count_limit`
    df: dict[str, int] = field(default_factory=dict)
    # articles read by earlier searches, with their text, by id
    articles: dict[str, Article] = field(default_factory=dict)
    # (membership version, collections) -> the collections to filter by (None: they hold
    # every article) and the ids of their passages
    scopes: dict[tuple[int, tuple[str, ...]], tuple[tuple[str, ...] | None, list[int] | None]] = (
        field(default_factory=dict)
    )
    # the same key -> (the index it was copied from, the flat copy of the scope's vectors)
    subsets: dict[tuple[int, tuple[str, ...]], tuple[VectorIndex, VectorIndex]] = field(
        default_factory=dict
    )

    @property
    def common_limit(self) -> int:
        return max(1, min(int(self.passages * COMMON_SHARE), COMMON_MAX_PASSAGES))

    @property
    def count_limit(self) -> int:
        """Words are counted this far: past the common-word limit, and in a small store
        (where no word is common yet) far enough that counts still tell words apart."""
        return max(self.common_limit, COMMON_MIN_PASSAGES)


class Searcher:
    def __init__(self, store: Store, settings: SearchSettings) -> None:
        self.store = store
        self.settings = settings
        self._kept = _GenerationCache(-1, 0)
        self._ahead = threading.local()  # (query, future) of the lexical search started ahead
        # Every lexical search started ahead and not yet done, whether or not its question
        # still wants it (one whose search failed, or that was dropped, runs on): `close`
        # waits for them, as closing the store under a running query crashes the process.
        self._started: set[Future[_Lexical]] = set()
        self._started_lock = threading.Lock()

    def _cache(self, generation: int | None = None) -> _GenerationCache:
        """The cache of `generation` (default: the store's current one). Each is built whole
        before other threads can see it; a full article cache starts anew."""
        if generation is None:
            generation = self.store.db.generation()
        kept = self._kept
        if kept.generation != generation:
            kept = _GenerationCache(generation, self.store.db.counts()[1])
        elif len(kept.articles) > ARTICLES_KEPT:
            kept = replace(kept, articles={})
        else:
            return kept
        self._kept = kept
        return kept

    def idf(self, words: Iterable[str]) -> dict[str, float]:
        """Inverse passage frequency of each word in the store (BM25's form), rare words high.

        Counted with the full-text index, which stems each word as it stemmed the passages,
        up to the common-word limit (a commoner word gets the limit's value, so that in a
        small store, where no word is common yet, every word found weighs alike); counts are
        cached until the store changes.
        """
        cache = self._cache()
        n, limit = cache.passages, cache.common_limit
        return {
            w: math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            for w, df in ((w, min(self._frequency(w, cache), limit)) for w in words)
        }

    def _query_terms(self, query: str, cache: _GenerationCache) -> list[str]:
        """The query's content words, less those in so many passages (see COMMON_SHARE) that
        they are stop words here."""
        terms = content_words(query)
        if cache.passages < COMMON_MIN_PASSAGES:
            return terms
        return [t for t in terms if self._frequency(t, cache) < cache.common_limit]

    def _term_stats(self, terms: list[str], cache: _GenerationCache) -> TermStats | None:
        """The counts of `terms` for a backend that ranks with them; None for one that keeps
        its own (FTS5)."""
        if not self.store.db.needs_term_stats:
            return None
        return TermStats(cache.passages, {t: self._frequency(t, cache) for t in terms})

    def _frequency(self, word: str, cache: _GenerationCache) -> int:
        count = cache.df.get(word)
        if count is None:
            count = self.store.db.match_count(word, cache.count_limit)
            cache.df[word] = count
        return count

    def embed_query(
        self, text: str, collections: tuple[str, ...] | None = None
    ) -> np.ndarray:
        """The question's vector. Also starts its lexical search (in `collections`) on a
        worker thread, for the `search` of the same text that follows in this thread."""
        future = _pool().submit(self._lexical, text, collections)
        with self._started_lock:
            self._started.add(future)
        future.add_done_callback(self._done)
        self._ahead.pending = ((text, collections), future)
        return self.store.embedder.embed([text])[0]

    def _done(self, future: Future[_Lexical]) -> None:
        with self._started_lock:
            self._started.discard(future)

    def close(self, timeout_s: float = CLOSE_WAIT_S) -> bool:
        """Wait (at most `timeout_s`) for the lexical searches started ahead, before the store
        is closed under them; those not begun yet are cancelled. False if some still run."""
        with self._started_lock:
            started = list(self._started)
        running = [f for f in started if not f.cancel()]
        return not wait(running, timeout=timeout_s).not_done

    def _take_lexical(
        self, query: tuple[str, tuple[str, ...] | None] | None
    ) -> Future[_Lexical] | None:
        """The lexical search started ahead for `query` in this thread, if any (None: drop
        whatever was started)."""
        pending = getattr(self._ahead, "pending", None)
        self._ahead.pending = None
        if pending is None:
            return None
        started_for, future = pending
        # One not begun yet (every worker busy: this thread does it sooner itself), or one
        # for other text, is dropped.
        if future.cancel() or started_for != query:
            return None
        return future

    def _scope(
        self, collections: tuple[str, ...] | None, cache: _GenerationCache
    ) -> tuple[tuple[str, ...] | None, list[int] | None]:
        """(the collections to filter by, their passages' ids); (None, None) when no filter
        is needed because they hold every article. Kept per generation and membership
        version, so repeated questions from one server read them once."""
        if collections is None:
            return None, None
        db = self.store.db
        key = (db.members_version(), collections)
        found = cache.scopes.get(key)
        if found is None:
            if db.covers_every_article(collections):
                found = (None, None)
            elif self.store.filters_in_query:
                found = (collections, None)  # the vector query applies them itself
            else:
                where = db.passage_filter(collections)
                found = (collections, db.passage_ids(where))  # type: ignore[arg-type]
            if len(cache.scopes) >= SCOPES_KEPT:
                cache.scopes.clear()
            cache.scopes[key] = found
        return found

    def _dense_in_scope(
        self, index: VectorIndex, qvec: np.ndarray, n: int, allowed: list[int],
        filters: Filters, cache: _GenerationCache,
    ) -> list[tuple[int, float]]:
        """The dense search within a collection scope: over a flat copy of the scope's own
        vectors when it is small (exact, and as fast as an index of its own), else over the
        whole index with an id selector."""
        if len(allowed) > min(SUBSET_MAX, SUBSET_SHARE * index.size):
            return index.search(qvec, n, allowed)
        key = (self.store.db.members_version(), filters.collections)
        kept = cache.subsets.get(key)  # type: ignore[arg-type]
        if kept is None or kept[0] is not index:
            if sum(s.size for _, s in cache.subsets.values()) + len(allowed) > (
                SUBSET_VECTORS_KEPT
            ):
                cache.subsets.clear()
            kept = (index, index.subset(allowed))
            cache.subsets[key] = kept  # type: ignore[index]
        return kept[1].search(qvec, n)

    def _lexical(self, query: str, collections: tuple[str, ...] | None = None) -> _Lexical:
        """The lexical search for `query` in `collections` (no source or date filter), with
        the rows of the passages found."""
        db = self.store.db
        generation = db.generation()
        cache = self._cache(generation)
        scope, _ = self._scope(collections, cache)
        terms = self._query_terms(query, cache)
        hits = db.lexical_search(
            terms, self.settings.candidates, db.passage_filter(scope),
            self._term_stats(terms, cache),
        )
        return _Lexical(generation, hits, db.passages((pid for pid, _ in hits), cache.articles))

    @staticmethod
    def _finished(started: Future[_Lexical] | None, generation: int) -> _Lexical | None:
        """The lexical search started ahead, if it searched `generation` (one that failed is
        done again by the caller, where its error shows as it would have)."""
        if started is None:
            return None
        try:
            done = started.result()
        except Exception:
            return None
        return done if done.generation == generation else None

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
        collections = filters.collections if filters else None
        if query_vector is not None:
            qvec = query_vector
        elif unfiltered:
            # starts the lexical search ahead, on a worker
            qvec = self.embed_query(query, collections)
        else:
            qvec = self.store.embedder.embed([query])[0]
        started = self._take_lexical((query, collections) if unfiltered else None)
        # FAISS, FTS5 and the rows are read one after another; a write committed in between
        # can leave ids that no longer exist (a rebuild renumbers every passage). Then the
        # search runs again, on the new generation.
        for _ in range(3):
            generation = self.store.db.generation()
            hits = self._search(
                query, limit or self.settings.top_k, filters, qvec, lexical_terms,
                started, generation,
            )
            if self.store.db.generation() == generation:
                break
            started = None  # a retry searches afresh
        return hits

    def _search(
        self, query: str, limit: int, filters: Filters | None, qvec: np.ndarray,
        lexical_terms: list[str] | None, started: Future[_Lexical] | None, generation: int,
    ) -> list[Hit]:
        db = self.store.db
        index = self.store.vector_index()
        cache = self._cache(generation)
        where, allowed = None, None
        if filters is not None:
            scope, allowed = self._scope(filters.collections, cache)
            where = db.passage_filter(scope, filters.source, filters.since, filters.until)
            if filters.active and not self.store.filters_in_query:
                allowed = db.passage_ids(where)  # type: ignore[arg-type]
        # Both searches apply the filter inside: FAISS through an id selector over the ids
        # that pass (PostgreSQL in the vector query's WHERE), FTS5 in its query.
        n = self.settings.candidates
        if self.store.filters_in_query:
            dense = index.search(qvec, n, where=where)  # type: ignore[call-arg]
        elif allowed is not None and not filters.active:  # type: ignore[union-attr]
            dense = self._dense_in_scope(index, qvec, n, allowed, filters, cache)  # type: ignore[arg-type]
        else:
            dense = index.search(qvec, n, allowed)
        rows: dict[int, PassageRow] = {}
        ahead = self._finished(started, generation)
        if ahead is not None:
            lexical = ahead.hits
            rows.update(ahead.rows)
        else:
            terms = lexical_terms if lexical_terms is not None else self._query_terms(query, cache)
            lexical = db.lexical_search(terms, n, where, self._term_stats(terms, cache))
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
        hits: list[Hit] = []
        kept_shingles: list[frozenset[str]] = []
        per_article: dict[str, int] = {}
        # Rows are read as the list is walked: duplicates and the per-article cap pass over
        # some, but a few more than `limit` nearly always fill it.
        start = 0
        while start < len(order) and len(hits) < limit:
            need = limit - len(hits)
            chunk = order[start : start + max(2 * need, need + 10)]
            start += len(chunk)
            unread = [pid for pid in chunk if pid not in rows]
            if unread:
                rows.update(db.passages(unread, cache.articles))
            # Passages the dense search did not return: their similarity, all at once (for
            # PostgreSQL one round trip, not one each).
            similarity.update(index.similarities(
                qvec, [pid for pid in chunk if pid not in similarity and pid in rows]
            ))
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
                hits.append(Hit(row, fused[pid], similarity[pid], lexical_rank.get(pid)))
                if len(hits) >= limit:
                    break
        return hits

