"""The store both backends are: what a write (add, remove, rebuild, expire) does, shared, and
the hooks each backend fills in (index/sqlite/store.py: SQLite + FAISS; index/postgres/
store.py: PostgreSQL + pgvector).

A write plans (index/planning.py), embeds and finds entities (index/features.py) first, then
in ONE database transaction changes the rows, writes the next generation's vectors and bumps
the generation, so a process killed at any moment leaves the last consistent store; readers
keep the last committed generation until the new one is installed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index import ner_worker, stories
from index.chunking import embedding_text
from index.collections import SHARED, check_name
from index.embedding import Embedder
from index.entities import Recogniser, make_recogniser
from index.errors import StoreError, StoreMismatch
from index.features import Features, Progress, _text_key
from index.models import Article, ArticleInput, Skipped, now_iso
from index.planning import AddResult, Planning, _Planned, _unstorable
from index.settings import StoreSettings

if TYPE_CHECKING:
    from index.sqlite.database import Database
    from index.sqlite.vectors import VectorIndex

def _noop(stage: str, done: int, total: int) -> None:
    pass


class Store(Planning, Features):
    """Articles, passages and their vectors, with one API whatever keeps them; a backend
    fills in the hooks below that raise NotImplementedError."""

    def __init__(self, settings: StoreSettings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        # Finds the named entities of new passages ([ner] model; None: "none"). Loaded on the
        # first passages it tags.
        self.recogniser: Recogniser | None = make_recogniser(settings.ner)
        self.data_dir = Path(settings.data_dir)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {self.data_dir}: {exc}") from exc
        self.db = self._open_database()
        self._write_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._index: VectorIndex | None = None
        self._loaded_generation = -1
        self._entity_worker: ner_worker.EntityWorker | None = None

    # Whether the vector index applies search filters inside its own query (given the SQL
    # `where`), so the searcher need not list the passage ids that pass (index/search.py).
    filters_in_query = False

    def _open_database(self) -> Database:
        """The backend's database (a `Database`, index/sqlite/database.py, or one that speaks
        its API)."""
        raise NotImplementedError

    # -- reading ----------------------------------------------------------------------------
    def check_model(self) -> None:
        stored = self.db.get_meta("model")
        dim = self.db.get_meta("dimension")
        if stored is not None and stored != self.embedder.name:
            raise StoreMismatch(
                f"the store was built with model {stored!r} but the config names"
                f" {self.embedder.name!r}; run `newsbot index rebuild` to re-embed"
            )
        if dim is not None and int(dim) != self.embedder.dimension:
            raise StoreMismatch(
                f"the store holds {dim}-dimensional vectors but the model makes"
                f" {self.embedder.dimension}; run `newsbot index rebuild`"
            )

    def vector_index(self) -> VectorIndex:
        """The vectors of the committed generation (reloaded when another process changed
        it), once the store is known to match the model."""
        raise NotImplementedError

    def is_empty(self) -> bool:
        return self.db.counts()[0] == 0

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time, across threads and processes sharing the store."""
        raise NotImplementedError
        yield

    def _commit(
        self,
        write_rows: Callable[..., tuple[list[int], np.ndarray]],
        fresh: list[tuple[str, np.ndarray]],
        base: VectorIndex | None,
        remove_all: bool = False,
        prune_to: set[str] | None = None,
        fresh_entities: list[tuple[str, str]] | None = None,
        prune_entities_to: set[str] | None = None,
    ) -> None:
        """Run `write_rows` and save the next generation's vectors in one transaction."""
        generation = self.db.generation() + 1
        with self.db.transaction() as tx:
            self._prepare_vectors(tx, remove_all or base is None)
            removed, (new_ids, new_vecs) = write_rows(tx)
            index = self._next_vectors(tx, removed, new_ids, new_vecs, base, remove_all)
            self.db.cache_vectors(tx, self.embedder.name, fresh)
            if prune_to is not None:
                self.db.prune_cache(tx, self.embedder.name, prune_to)
            if self.recogniser is not None:
                self.db.cache_entities(tx, self.recogniser.name, fresh_entities or [])
                if prune_entities_to is not None:
                    self.db.prune_entity_cache(tx, self.recogniser.name, prune_entities_to)
                self.db.set_meta(tx, "ner_model", self.recogniser.name)
            self.db.set_meta(tx, "model", self.embedder.name)
            self.db.set_meta(tx, "dimension", str(self.embedder.dimension))
            self.db.set_meta(tx, "index_type", index.kind)
            self.db.set_meta(tx, "last_change", now_iso())
            self.db.set_meta(tx, "generation", str(generation))
            self._save_vectors(index, generation)
        self._installed(index, generation)

    # The vector side of a commit, the backend's: the SQLite store writes the next
    # generation's FAISS file (index/sqlite/store.py); the PostgreSQL store
    # (index/postgres/store.py) keeps the vectors in the passages' rows, written by the same
    # transaction.
    def _prepare_vectors(self, tx, whole: bool) -> None:  # type: ignore[no-untyped-def]
        """Before the rows are written (`whole`: every vector is written anew)."""

    def _next_vectors(  # type: ignore[no-untyped-def]
        self, tx, removed: list[int], new_ids: list[int], new_vecs: np.ndarray,
        base: VectorIndex | None, remove_all: bool,
    ) -> VectorIndex:
        """The next generation's vectors: `base` less `removed`, plus the new ones."""
        raise NotImplementedError

    def _save_vectors(self, index: VectorIndex, generation: int) -> None:
        """Inside the transaction, last: the next generation's vectors, where they go apart."""
        raise NotImplementedError

    def _installed(self, index: VectorIndex, generation: int) -> None:
        """After the commit: searches use the new index."""
        raise NotImplementedError

    def add(
        self, items: list[ArticleInput], progress: Progress | None = None,
        collection: str = SHARED,
    ) -> AddResult:
        """Add `items` to `collection`: new articles are stored, cut and embedded; one the
        collection already holds (same URL, or same text) is updated (`_plan`). An article
        exactly as another collection stored it joins `collection`, so an article in several
        collections is stored and embedded once; different text under a stored URL is stored
        apart, for `collection` alone."""
        collection = check_name(collection)
        progress = progress or _noop
        result = AddResult()
        with self._writing():
            base = self.vector_index()
            plans: list[_Planned] = []
            members: list[str] = []
            seen: dict[str, Article] = {}
            taken: set[str] = set()  # ids of the articles planned so far
            leaving: set[str] = set()  # articles `collection` swaps for its own copy
            for item in items:
                if not item.text.strip():
                    result.skipped.append(Skipped(item.origin, "no text"))
                    continue
                problem = _unstorable(item)
                if problem:
                    # The readers scrub what they make; this guards every other caller, since
                    # one such field would fail the whole batch's transaction.
                    result.skipped.append(Skipped(repr(item.origin)[1:-1], problem))
                    continue
                outcome, plan = self._plan(item, seen, taken, collection)
                members.append(plan.article.id)
                if plan.leaves:
                    leaving.add(plan.leaves)
                if outcome == "unchanged":
                    result.unchanged.append(plan.article)
                    continue
                if plan.article.url:
                    seen[plan.article.url] = plan.article
                seen[plan.article.content_hash] = plan.article
                # A later duplicate in the same batch supersedes an earlier plan.
                plans = [p for p in plans if p.article.id != plan.article.id]
                plans.append(plan)
                (result.added if outcome == "added" else result.updated).append(plan.article)
            result.added = [a for a in result.added if any(p.article is a for p in plans)]
            result.updated = [a for a in result.updated if any(p.article is a for p in plans)]
            members = [m for m in members if m not in leaving]
            if not plans:
                if members:
                    with self.db.transaction() as tx:
                        self.db.add_members(tx, collection, members)
                return result
            texts = [
                embedding_text(p.article.title, passage)
                for p in plans
                if p.passages is not None
                for passage in p.passages
            ]
            # Entities are found in a worker process while this one embeds (index/ner_worker.py).
            finding = self._start_entities(
                [passage for p in plans if p.passages is not None for passage in p.passages]
            )
            vectors, fresh = self._embed_then(texts, progress, finding)
            entities, fresh_entities = finding.finish(progress)
            progress("saving", 0, 1)
            # New texts join their story groups (index/stories.py); computed before the
            # transaction, which then only compares and writes.
            signatures = {
                p.article.id: stories.signature(p.article.text)
                for p in plans if p.passages is not None
            }

            def write_rows(tx):  # type: ignore[no-untyped-def]
                removed: list[int] = []
                new_ids: list[int] = []
                at = 0
                for plan in plans:
                    if plan.replaces:
                        removed += self.db.delete_passages_of(tx, plan.article.id)
                    self.db.upsert_article(tx, plan.article)
                    if plan.passages is not None:
                        n = len(plan.passages)
                        new_ids += self.db.insert_passages(
                            tx, plan.article, plan.passages, entities[at : at + n]
                        )
                        at += n
                self.db.add_members(tx, collection, members)
                if leaving:
                    self.db.remove_members(tx, collection, leaving)
                stories.assign(self.db, tx, signatures)
                return removed, (new_ids, vectors)

            self._commit(write_rows, fresh, base, fresh_entities=fresh_entities)
            progress("saving", 1, 1)
        return result

    def find(self, ref: str, collection: str | None = None) -> Article | None:
        """An article by id or URL (exact, then canonical); with `collection`, only one that
        collection holds."""
        article = self.db.article_by_id(ref) or self.db.article_by_url(ref, collection)
        if (article is not None and collection is not None
                and not self.db.in_collection(article.id, collection)):
            return None
        return article

    def remove(self, articles: list[Article], collection: str | None = None) -> list[Article]:
        """Take `articles` out of `collection` (None: out of every collection). An article
        leaves the store, with its passages and vectors, only when no collection holds it any
        more; returns those that left."""
        if not articles:
            return []
        with self._writing():
            base = self.vector_index()
            ids = [a.id for a in dict((a.id, a) for a in articles).values()]
            # Under the write lock nothing else changes memberships, so what leaves is known
            # before the one transaction that takes the memberships and those articles away.
            if collection is None:
                gone = set(ids)
            else:
                gone = {i for i in ids if self.db.collections_of(i) <= {collection}}
            if not gone:
                with self.db.transaction() as tx:
                    self.db.remove_members(tx, collection, ids)  # type: ignore[arg-type]
                return []

            def write_rows(tx):  # type: ignore[no-untyped-def]
                if collection is not None:
                    self.db.remove_members(tx, collection, ids)
                removed: list[int] = []
                for article_id in gone:
                    removed += self.db.delete_article(tx, article_id)
                stories.assign(self.db, tx, {})  # groups what an older store left ungrouped
                return removed, ([], np.zeros((0, self.embedder.dimension), dtype=np.float32))

            self._commit(write_rows, [], base)
            return [a for a in articles if a.id in gone]

    def rebuild(
        self, progress: Progress | None = None, collection: str | None = None
    ) -> tuple[int, int]:
        """Re-cut articles and rebuild their vectors beside the old ones, then swap.

        Every article (the default), or those of `collection` only. A vector index that cannot
        be loaded (missing, damaged, another model) is always rebuilt whole, since that is
        the repair. Vectors of unchanged passage texts come from the embedding cache, so a
        rebuild only embeds what is new (a new model embeds everything). Returns (articles,
        passages) rebuilt.
        """
        progress = progress or _noop
        with self._writing():
            base: VectorIndex | None = None
            if collection is not None:
                try:
                    base = self.vector_index()
                except StoreMismatch:
                    base = None  # the repair: everything, below
            whole = base is None
            articles = self.db.all_articles() if whole else self.db.articles_in(collection)
            chunks = []
            for i, article in enumerate(articles):
                chunks.append(self._chunks(article))
                progress("cutting passages", i + 1, len(articles))
            texts = [
                embedding_text(a.title, p)
                for a, ps in zip(articles, chunks, strict=True)
                for p in ps
            ]
            plain = [p for ps in chunks for p in ps]
            finding = self._start_entities(plain)
            vectors, fresh = self._embed_then(texts, progress, finding)
            entities, fresh_entities = finding.finish(progress)
            progress("grouping copies", 0, len(articles))
            signatures = {a.id: stories.signature(a.text) for a in articles}
            progress("saving", 0, 1)

            def write_rows(tx):  # type: ignore[no-untyped-def]
                removed: list[int] = []
                if whole:
                    self.db.delete_all_passages(tx)
                new_ids: list[int] = []
                at = 0
                for article, passages in zip(articles, chunks, strict=True):
                    if not whole:
                        removed += self.db.delete_passages_of(tx, article.id)
                    n = len(passages)
                    new_ids += self.db.insert_passages(
                        tx, article, passages, entities[at : at + n]
                    )
                    at += n
                if whole:
                    stories.regroup(self.db, tx, signatures)
                else:  # one collection's articles: regrouped among all the others
                    stories.assign(self.db, tx, dict(signatures))
                return removed, (new_ids, vectors)

            self._commit(
                write_rows, fresh, base, remove_all=whole,
                prune_to={_text_key(t) for t in texts} if whole else None,
                fresh_entities=fresh_entities,
                prune_entities_to={_text_key(t) for t in plain} if whole else None,
            )
            progress("saving", 1, 1)
            return len(articles), len(texts)

    def expire(
        self, max_age_days: int, cap: int, now: datetime
    ) -> tuple[list[Article], list[Article]]:
        """Retention in one atomic write: articles published (or, undated, added) more than
        `max_age_days` before `now` leave every collection (0: none); each collection keeps
        only its newest `cap` (0: no cap). Returns (every article taken out of a collection,
        those of them that left the store with their passages and vectors)."""
        if max_age_days <= 0 and cap <= 0:
            return [], []
        with self._writing():
            aged: dict[str, Article] = {}
            if max_age_days > 0:
                cutoff = (now - timedelta(days=max_age_days)).date().isoformat()
                aged = {a.id: a for a in self.db.articles_dated_before(cutoff)}
            dropped: dict[str, list[str]] = {}  # collection -> ids it lets go
            over: dict[str, Article] = {}
            if cap > 0:
                for collection in self.db.collection_names():
                    extra = [a for a in self.db.articles_beyond_newest(collection, cap)
                             if a.id not in aged]
                    if extra:
                        dropped[collection] = [a.id for a in extra]
                        over.update((a.id, a) for a in extra)
            if not aged and not dropped:
                return [], []
            # Under the write lock memberships do not change: what leaves is known up front.
            gone = set(aged)
            for article_id in over:
                holders = self.db.collections_of(article_id)
                if all(article_id in dropped.get(c, ()) for c in holders):
                    gone.add(article_id)
            removed = list(aged.values()) + [a for i, a in over.items() if i not in aged]
            deleted = [a for a in removed if a.id in gone]

            def write_rows(tx):  # type: ignore[no-untyped-def]
                for collection, ids in dropped.items():
                    self.db.remove_members(tx, collection, ids)
                ids: list[int] = []
                for article_id in gone:
                    ids += self.db.delete_article(tx, article_id)
                return ids, ([], np.zeros((0, self.embedder.dimension), dtype=np.float32))

            if gone:
                self._commit(write_rows, [], self.vector_index())
            else:
                with self.db.transaction() as tx:
                    write_rows(tx)
            return removed, deleted

    # -- facts ------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the store lives, as `stats` shows it."""
        raise NotImplementedError

    def size_on_disk(self) -> int:
        raise NotImplementedError

    def keep_lexical_index(self) -> threading.Event:
        """Keep what makes the lexical search fast in a long-running process (the SQLite
        store: an in-memory BM25 matrix, index/sqlite/lexical.py); the event is set once it
        is ready. PostgreSQL ranks inside the database and keeps nothing: set at once."""
        ready = threading.Event()
        ready.set()
        return ready

    def close(self) -> None:
        if self._entity_worker is not None:
            self._entity_worker.close()
            self._entity_worker = None
        self.db.close()
