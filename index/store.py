"""The store: SQLite and FAISS kept in agreement, written atomically, readable while written.

A write (add, remove, rebuild) embeds first, then in ONE SQLite transaction changes the rows,
writes the FAISS file of the next generation (temp file, fsync, rename) and bumps the
generation in the database. Until that transaction commits, the database still names the old
generation's file, which is kept, so a process killed at any moment leaves the last consistent
store. Searches in this process keep using the old index object until the new one is swapped
in; other processes notice the generation change and reload.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from index import ner_worker, stories
from index.chunking import chunk_text, embedding_text
from index.collections import SHARED, check_name
from index.database import Database, now_iso
from index.embedding import Embedder
from index.entities import Recogniser, SpacyRecogniser, make_recogniser
from index.errors import StoreError, StoreMismatch
from index.models import Article, ArticleInput, Skipped
from index.settings import StoreSettings
from index.vectors import VectorIndex, vector_file

Progress = Callable[[str, int, int], None]  # stage, done, total

DB_NAME = "news.sqlite3"

def _noop(stage: str, done: int, total: int) -> None:
    pass


def article_id_for(url: str | None, digest: str) -> str:
    basis = url if url else f"text:{digest}"
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class AddResult:
    added: list[Article] = field(default_factory=list)
    updated: list[Article] = field(default_factory=list)
    unchanged: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Planned:
    article: Article
    passages: list[str] | None  # None: passages stay as they are
    replaces: bool  # an existing article's passages are replaced
    leaves: str | None = None  # the article (held by others too) the collection gives up


class Store:
    """Articles and passages in SQLite, their vectors in FAISS, in one data directory."""

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
        return Database(self.data_dir / DB_NAME)

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
        """The index of the committed generation, reloaded when another process changed it."""
        index = self._index
        if index is not None and self.db.generation() == self._loaded_generation:
            return index
        with self._load_lock:
            for _ in range(5):
                # Read under the lock: a writer in this process installs its new index under
                # this lock before it deletes the old generation's file, so a generation read
                # here still has its file. One read before the lock could already be stale.
                generation = self.db.generation()
                if self._index is not None and generation == self._loaded_generation:
                    return self._index
                try:
                    index = self._load(generation)
                except StoreMismatch:
                    if self.db.generation() != generation:
                        continue  # another process committed meanwhile (and removed that file)
                    raise
                self._index, self._loaded_generation = index, generation
                return index
            raise StoreError("the store kept changing while its vector index was being loaded")

    def _load(self, generation: int) -> VectorIndex:
        self.check_model()
        if generation == 0:
            return VectorIndex.build(
                self.embedder.dimension, self.settings.index, np.zeros(0), np.zeros((0, 0))
            )
        index = VectorIndex.load(vector_file(self.data_dir, generation), self.settings.index)
        _, passages = self.db.counts()
        if index.size != passages:
            raise StoreMismatch(
                f"the vector index holds {index.size} vectors but the database has"
                f" {passages} passages; run `newsbot index rebuild`"
            )
        if index.dimension != self.embedder.dimension:
            raise StoreMismatch(
                f"the vector index is {index.dimension}-dimensional but the model makes"
                f" {self.embedder.dimension}; run `newsbot index rebuild`"
            )
        return index

    def is_empty(self) -> bool:
        return self.db.counts()[0] == 0

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time, across threads and processes sharing the data directory."""
        with self._write_lock, open(self.data_dir / ".write.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _plan(
        self, item: ArticleInput, seen: dict[str, Article], taken: set[str], collection: str
    ) -> tuple[str, _Planned]:
        """What adding `item` to `collection` means: ("added"|"updated"|"unchanged", plan).

        A collection only ever gains an article from what it supplied itself: `item` updates
        the article `collection` already holds under its URL (else with its text); failing
        that it joins a stored article only where that one is exactly what `item` supplies
        (same text, URL and shown details), else it is stored anew for `collection` alone,
        whatever other collections hold under the same URL. An update of an article that
        other collections hold too leaves theirs as it is: `collection` gets its own copy."""
        digest = item.content_hash
        own = None
        if item.url:
            own = seen.get(item.url) or self.db.article_by_url(item.url, collection)
        if own is None:
            own = seen.get(digest) or self.db.article_by_hash(digest, collection)
        stamp = now_iso()
        if own is None:
            same = self.identical(item)
            if same is not None:
                return "unchanged", _Planned(same, None, replaces=False)
            article = Article(
                id=self._new_id(item.url, digest, taken), title=item.title, url=item.url,
                source=item.source, published=item.published, author=item.author,
                text=item.text, content_hash=digest, added_at=stamp, updated_at=stamp,
                origin=item.origin or None,
            )
            return "added", _Planned(article, self._chunks(article), replaces=False)
        same_text = own.content_hash == digest
        merged = replace(
            own,
            # The same text under another URL keeps its first URL; a URL's new text replaces.
            url=own.url or item.url,
            title=item.title or own.title,
            source=item.source or own.source,
            published=item.published or own.published,
            author=item.author or own.author,
            text=item.text,
            content_hash=digest,
            origin=own.origin or item.origin or None,
        )
        if merged == own:
            return "unchanged", _Planned(own, None, replaces=False)
        merged = replace(merged, updated_at=stamp)
        if self.db.collections_of(own.id) - {collection}:
            copy = replace(merged, id=self._new_id(merged.url, digest, taken), added_at=stamp)
            return "updated", _Planned(copy, self._chunks(copy), replaces=False, leaves=own.id)
        rechunk = not same_text or merged.title != own.title
        return "updated", _Planned(merged, self._chunks(merged) if rechunk else None, rechunk)

    def identical(self, item: ArticleInput) -> Article | None:
        """A stored article that is exactly what `item` supplies: its text, URL and every
        detail an answer shows (the origin names an untitled one). Joining it shows the
        newcomer nothing it did not supply itself."""
        for article in self.db.articles_with_text(item.content_hash, item.url or None):
            if (article.title, article.source, article.published, article.author) != (
                item.title, item.source, item.published, item.author
            ):
                continue
            if article.title or article.origin == (item.origin or None):
                return article
        return None

    def _new_id(self, url: str | None, digest: str, taken: set[str]) -> str:
        """An id no stored or planned article has: from the URL (or text) as before, else,
        for another collection's own article under a stored URL, from the URL and text."""
        candidate, salt = article_id_for(url, digest), 0
        while candidate in taken or self.db.article_by_id(candidate) is not None:
            salt += 1
            candidate = article_id_for(f"{url or ''}\n{digest}\n{salt}", digest)
        taken.add(candidate)
        return candidate

    def _chunks(self, article: Article) -> list[str]:
        return chunk_text(article.text, self.settings.chunk)

    def _embed(
        self, texts: list[str], progress: Progress
    ) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
        """Vectors for `texts`, from the cache where possible; also the new cache entries."""
        keys = [_text_key(t) for t in texts]
        dim = self.embedder.dimension
        cached = self.db.cached_vectors(self.embedder.name, list(set(keys)), dim)
        missing = [i for i, k in enumerate(keys) if k not in cached]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        fresh: list[tuple[str, np.ndarray]] = []
        if missing:
            vecs = self.embedder.embed(
                [texts[i] for i in missing],
                batch_size=self.settings.model.batch_size,
                progress=lambda done, total: progress("embedding", done, total),
            )
            for row, i in enumerate(missing):
                out[i] = vecs[row]
                fresh.append((keys[i], vecs[row]))
        for i, k in enumerate(keys):
            if k in cached:
                out[i] = cached[k]
        return out, fresh

    def _embed_then(
        self, texts: list[str], progress: Progress, finding: ner_worker.Finding
    ) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
        """`_embed`, dropping the entity blocks not yet started when embedding fails."""
        try:
            return self._embed(texts, progress)
        except BaseException:
            finding.cancel()
            raise

    def _entities(
        self, texts: list[str], progress: Progress
    ) -> tuple[list[str | None], list[tuple[str, str]]]:
        """Stored entities (JSON) of passage `texts`, from the cache where possible; also the
        new cache entries. All None when entities are off."""
        return self._start_entities(texts).finish(progress)

    def _start_entities(self, texts: list[str]) -> ner_worker.Finding:
        """Start finding the entities of `texts` (`_entities`); `finish` returns them.

        Many new passages go to a worker process (index/ner_worker.py) that tags them while
        this process embeds; `finish` then waits for it. A few are tagged in `finish`."""
        if self.recogniser is None or not texts:
            return ner_worker.Finding(None, texts, {}, [], None)
        keys = [_text_key(t) for t in texts]
        cached = self.db.cached_entities(self.recogniser.name, list(set(keys)))
        missing = list({k: i for i, k in enumerate(keys) if k not in cached}.values())
        pending = None
        if isinstance(self.recogniser, SpacyRecogniser) and ner_worker.worthwhile(len(missing)):
            if self._entity_worker is None:
                self._entity_worker = ner_worker.EntityWorker(self.recogniser.settings)
            pending = self._entity_worker.submit([texts[i] for i in missing])
        return ner_worker.Finding(self.recogniser, texts, cached, missing, pending, keys)

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

    # The vector side of a commit; the PostgreSQL store (index/postgres/store.py) keeps the
    # vectors in the passages' rows instead, written by the same transaction.
    def _prepare_vectors(self, tx, whole: bool) -> None:  # type: ignore[no-untyped-def]
        """Before the rows are written (`whole`: every vector is written anew)."""

    def _next_vectors(  # type: ignore[no-untyped-def]
        self, tx, removed: list[int], new_ids: list[int], new_vecs: np.ndarray,
        base: VectorIndex | None, remove_all: bool,
    ) -> VectorIndex:
        """The next generation's vectors: `base` less `removed`, plus the new ones."""
        if remove_all or base is None:
            return VectorIndex.build(
                self.embedder.dimension, self.settings.index,
                np.asarray(new_ids, dtype=np.int64), new_vecs,
            )
        return base.with_changes(removed, np.asarray(new_ids, dtype=np.int64), new_vecs)

    def _save_vectors(self, index: VectorIndex, generation: int) -> None:
        """Inside the transaction, last: the next generation's file, written atomically."""
        index.save(vector_file(self.data_dir, generation))

    def _installed(self, index: VectorIndex, generation: int) -> None:
        """After the commit: searches use the new index, the old files go."""
        with self._load_lock:
            self._index, self._loaded_generation = index, generation
        self._remove_stale_files(generation)

    def _remove_stale_files(self, keep: int) -> None:
        for path in self.data_dir.glob("vectors.*.faiss*"):
            if path.name != vector_file(self.data_dir, keep).name:
                path.unlink(missing_ok=True)

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
        return str(self.data_dir)

    def size_on_disk(self) -> int:
        total = 0
        for path in self.data_dir.iterdir():
            # SQLite's -shm/-journal files and a replaced vector file may go between the
            # listing and the stat: a file that is gone takes no space.
            with contextlib.suppress(FileNotFoundError):
                if path.is_file():
                    total += path.stat().st_size
        return total

    def close(self) -> None:
        if self._entity_worker is not None:
            self._entity_worker.close()
            self._entity_worker = None
        self.db.close()


def _unstorable(item: ArticleInput) -> str | None:
    """Why SQLite cannot (or should not) store `item`'s text fields, or None."""
    for name in ("text", "title", "url", "source", "published", "author", "origin"):
        value = getattr(item, name)
        if not value:
            continue
        if "\x00" in value:
            return f"the article's {name} holds a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"the article's {name} is not valid Unicode text (a lone surrogate)"
    return None


def store_exists(data_dir: Path) -> bool:
    return (Path(data_dir) / DB_NAME).exists()


def fsync_tree(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
