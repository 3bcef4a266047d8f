"""The one engine both front doors call: ask, add, remove, rebuild, stats.

It wires the store and its search (index/) to the configured reader (bot/reader/): the search
finds a question's passages (bot/reader/passages.py) and the reader ([reader] kind: the rules,
the learned model, or the LLM rewriting one of them) answers from them. Every method is
blocking and thread-safe; the Discord layer runs them in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from bot.guilds.settings import BOT_DB_NAME
from bot.reader.answer import Answer
from bot.reader.base import Reader
from bot.reader.passages import gather, question_day
from bot.reader.rules import RulesReader
from bot.settings import DEFAULT_READER, Config
from index.backends import open_store
from index.collections import SHARED, check_name, check_names
from index.embedding import Embedder, make_embedder
from index.errors import InputError
from index.models import Article, Ingest, ReadResult, Skipped
from index.search import CLOSE_WAIT_S, Filters, Searcher
from index.store import Store

log = logging.getLogger(__name__)

# stage ("reading", "embedding", "saving"...), done, total (0 when unknown)
Progress = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    added: list[Article] = field(default_factory=list)
    updated: list[Article] = field(default_factory=list)
    unchanged: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.added) + len(self.updated)


@dataclass
class RemoveReport:
    removed: list[Article] = field(default_factory=list)  # taken out of the collection
    not_found: list[str] = field(default_factory=list)  # not in the collection
    # those of `removed` that left the store with their vectors (no collection holds them)
    deleted: list[Article] = field(default_factory=list)


@dataclass(frozen=True)
class CollectionStats:
    """One collection, as `/news stats` and `newsbot index stats` show it."""

    name: str
    articles: int
    passages: int
    only_here: int  # articles no other collection holds
    # Estimated: the collection's article and passage text plus its passages' vectors (an
    # article shared with other collections counts in each).
    size_bytes: int
    last_ingest: Ingest | None
    feeds: int | None = None  # followed feeds; None where feeds are not followed (yet)
    feeds_failing: int | None = None


@dataclass(frozen=True)
class StoreStats:
    articles: int
    passages: int
    model: str
    dimension: int
    index_type: str
    size_bytes: int
    last_change: str | None
    data_dir: str
    collections: list[CollectionStats] = field(default_factory=list)


class NewsEngine:
    """The store, the search and the reader behind one small, blocking, thread-safe API."""

    def __init__(self, config: Config, embedder: Embedder | None = None) -> None:
        self.config = config
        settings = config.store
        self.embedder = embedder or make_embedder(settings.model)
        self.store: Store = open_store(settings, self.embedder)
        self.searcher = Searcher(self.store, settings.search)
        # The extractive reader (rules or learned) answers; with kind "llm" the LLM reader
        # rewrites its answers, and gives them as they are when it cannot.
        kind = config.reader.kind
        self.extractive = make_reader(config, DEFAULT_READER if kind == "llm" else kind)
        self.reader: Reader = (
            make_reader(config, "llm", self.extractive) if kind == "llm" else self.extractive
        )

    @property
    def bot_db_path(self) -> Path:
        """The SQLite file of the bot's state (with the SQLite backend; see bot/guilds/settings)."""
        return Path(self.config.store.data_dir) / BOT_DB_NAME

    # -- asking -----------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        context: str | None = None,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | date | None = None,
        collections: Sequence[str] | None = None,
    ) -> Answer:
        """Answer `question` from the store.

        `collections`: the collections searched (default: the shared one only); a question
        never sees an article that none of them holds. `source`, `since` and `until` filter
        the articles searched. `as_of` is the day the
        question is asked ('YYYY-MM-DD' or a date; default: today, UTC): the answer prefers
        articles of the days before it and distrusts articles dated after it, as a reader on
        that day would. A bad question or date raises InputError.
        """
        _check_text(question, "the question")
        for value, what in ((context, "the context"), (source, "--source")):
            if value is not None:
                _check_text(value, what)
        question = " ".join(question.split())
        if not question:
            raise InputError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise InputError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        filters = Filters(
            source=source, since=_iso_bound(since, "since"), until=_iso_bound(until, "until"),
            collections=check_names(collections),
        )
        return self.read(question, context=context, filters=filters, as_of=as_of_day(as_of))

    def read(
        self, question: str, *, reader: Reader | None = None, context: str | None = None,
        filters: Filters | None = None, as_of: str | date | None = None,
    ) -> Answer:
        """`question` answered by `reader` (default: the configured one) from the passages the
        search finds, without `ask`'s checks of its input. `as_of`: see `ask`."""
        day = question_day(as_of)
        passages = gather(
            self.searcher, self.config.store.answer, self.config.store.search.top_k, question,
            context=context, filters=filters, day=day,
        )
        return (reader or self.reader).answer(question, passages, day)

    # -- adding -----------------------------------------------------------------------------
    # Every add writes into one collection: "shared" (the operator's) unless told otherwise.
    def add_articles(
        self, read: ReadResult, progress: Progress | None = None, *,
        collection: str = SHARED, what: str = "articles",
    ) -> IngestReport:
        """Store what a reader read, in `collection`; `what` names it in the ingest record
        that `stats` shows (paths, URLs, a feed)."""
        collection = check_name(collection)
        result = self.store.add(read.articles, progress, collection=collection)
        report = IngestReport(
            added=result.added, updated=result.updated, unchanged=result.unchanged,
            skipped=read.skipped + result.skipped,
        )
        self.store.db.record_ingest(
            collection, what, len(report.added), len(report.updated), len(report.unchanged),
            [f"{s.origin}: {s.reason}" for s in report.skipped],
        )
        return report

    def add_paths(
        self, paths: list[str], progress: Progress | None = None, *, collection: str = SHARED
    ) -> IngestReport:
        from index import readers

        check_name(collection)
        return self.add_articles(
            readers.read_paths(paths, self.config.store.fetch), progress,
            collection=collection, what=_what(paths),
        )

    def add_urls(
        self, urls: list[str], progress: Progress | None = None, *, collection: str = SHARED
    ) -> IngestReport:
        from index import readers

        check_name(collection)
        return self.add_articles(
            readers.read_urls(urls, self.config.store.fetch), progress,
            collection=collection, what=_what(urls),
        )

    def add_sources(
        self, refs: list[str], progress: Progress | None = None, *, collection: str = SHARED
    ) -> IngestReport:
        """Paths and URLs mixed, as the command line takes them."""
        from index import readers

        check_name(collection)
        read = ReadResult()
        urls = [r for r in refs if _looks_like_url(r)]
        paths = [r for r in refs if not _looks_like_url(r)]
        if paths:
            read.extend(readers.read_paths(paths, self.config.store.fetch))
        if urls:
            read.extend(readers.read_urls(urls, self.config.store.fetch))
        return self.add_articles(read, progress, collection=collection, what=_what(refs))

    def add_feed(
        self, url_or_path: str, progress: Progress | None = None, *, collection: str = SHARED
    ) -> IngestReport:
        from index import readers

        check_name(collection)
        if progress:
            progress("reading feed", 0, 0)
        return self.add_articles(
            readers.read_feed(url_or_path, self.config.store.fetch), progress,
            collection=collection, what=f"feed {url_or_path}",
        )

    def add_bytes(
        self, name: str, data: bytes, progress: Progress | None = None, *,
        collection: str = SHARED,
    ) -> IngestReport:
        from index import readers

        check_name(collection)
        return self.add_articles(
            readers.read_bytes(name, data, self.config.store.fetch), progress,
            collection=collection, what=f"file {name}",
        )

    # -- removing and rebuilding ------------------------------------------------------------
    def remove(self, refs: list[str], *, collection: str = SHARED) -> RemoveReport:
        """Take articles (by URL or id) out of `collection`. One that `collection` does not
        hold is not found, whoever else holds it; an article leaves the store (with its
        vectors) only when no collection holds it any more."""
        from index.readers import canonical_url

        collection = check_name(collection)
        report = RemoveReport()
        for ref in refs:
            _check_text(ref, "an article to remove")
        for ref in refs:
            article = self.store.find(ref, collection) or self.store.find(
                canonical_url(ref), collection
            )
            if article is None:
                report.not_found.append(ref)
            elif article not in report.removed:
                report.removed.append(article)
        report.deleted = self.store.remove(report.removed, collection)
        return report

    def rebuild(
        self, progress: Progress | None = None, *, collection: str | None = None
    ) -> RebuildReport:
        """Re-cut and re-embed `collection`'s articles (None: every article). A damaged or
        missing vector index is rebuilt whole whatever `collection` says: that is the repair,
        and it changes no article."""
        if collection is not None:
            collection = check_name(collection)
        articles, passages = self.store.rebuild(progress, collection)
        return RebuildReport(articles=articles, passages=passages)

    def expire(self, now: datetime | None = None) -> RemoveReport:
        """Apply retention: articles older than index.max_age_days leave every collection, and
        a collection over index.max_articles_per_collection keeps its newest. An article that
        no collection holds any more leaves the store with its vectors; all of it is one
        atomic write. `removed`: every article taken out of a collection; `deleted`: those
        that left the store."""
        index = self.config.store.index
        removed, deleted = self.store.expire(
            index.max_age_days, index.max_articles_per_collection, now or datetime.now(UTC)
        )
        return RemoveReport(removed=removed, deleted=deleted)

    # -- facts ------------------------------------------------------------------------------
    def collections(self) -> list[str]:
        """Collections that hold articles or have had something added (sorted)."""
        return self.store.db.collection_names()

    def stats(self, collections: Sequence[str] | None = None) -> StoreStats:
        """The store, and each of `collections` (default: every collection)."""
        articles, passages = self.store.db.counts()
        db = self.store.db
        dimension = int(db.get_meta("dimension") or self.embedder.dimension)
        names = self.collections() if collections is None else check_names(collections)
        return StoreStats(
            articles=articles,
            passages=passages,
            model=db.get_meta("model") or self.embedder.name,
            dimension=dimension,
            index_type=db.get_meta("index_type") or self.config.store.index.type,
            size_bytes=self.store.size_on_disk(),
            last_change=db.get_meta("last_change"),
            data_dir=self.store.location,
            collections=[self._collection_stats(n, dimension) for n in names],
        )

    def _collection_stats(self, name: str, dimension: int) -> CollectionStats:
        counts = self.store.db.collection_counts(name)
        feeds = self.feed_counts(name)
        return CollectionStats(
            name=name, articles=counts.articles, passages=counts.passages,
            only_here=counts.only_here,
            size_bytes=counts.text_bytes + counts.passages * dimension * 4,
            last_ingest=self.store.db.last_ingest(name),
            feeds=feeds[0] if feeds else None, feeds_failing=feeds[1] if feeds else None,
        )

    def feed_counts(self, collection: str) -> tuple[int, int] | None:
        """(feeds followed, feeds failing) for `collection` (bot/feeds/following.py's tables)."""
        from index.feedstate import FeedBook

        return FeedBook(self.store.db).counts(collection, self.config.follow.failing_after)

    def keep_lexical_index(self, wait_s: float = 0.0) -> bool:
        """For a long-running process (the bot, an evaluation): keep the lexical search's
        in-memory index from now on (built in the background; searches use the store's own
        until it is ready). Waits up to `wait_s` for it; whether it is ready."""
        return self.store.keep_lexical_index().wait(wait_s)

    def check(self) -> None:
        """Raise StoreMismatch when SQLite, FAISS and the model disagree."""
        self.store.vector_index()

    def close(self) -> None:
        """Close the reader and the store, once the searcher's own worker threads are done
        with it. The caller makes sure no other thread is still using the engine."""
        self.reader.close()
        if not self.searcher.close():
            # Closing SQLite under a running query crashes the process: leave it to the exit.
            log.warning("a search still ran after %.0f s; the store is left open", CLOSE_WAIT_S)
            return
        self.store.close()


@dataclass(frozen=True)
class RebuildReport:
    articles: int
    passages: int

    def __str__(self) -> str:
        return f"rebuilt {self.articles} articles into {self.passages} passages"


MAX_QUESTION_CHARS = 1000


def make_reader(config: Config, kind: str, extractive: Reader | None = None) -> Reader:
    """The reader of `kind` (bot/settings.py's READER_KINDS); "llm" rewrites `extractive`'s
    answers. With kind "llm" an `extractive` of None is the default reader (DEFAULT_READER).
    The learned model and the openai client load only when their reader is made."""
    answer, top_k = config.store.answer, config.store.search.top_k
    if kind == "llm":
        from bot.reader.llm.reader import LLMReader  # the openai client loads only when used

        base = extractive or make_reader(config, DEFAULT_READER)
        return LLMReader(config.llm, answer.min_similarity, base)
    if kind == "learned":
        from bot.reader.learned.model import load as load_reader_model
        from bot.reader.learned.reader import LearnedReader

        return LearnedReader(answer, top_k, load_reader_model())
    if kind == "span":
        from bot.reader.learned.span_lead import SpanLedReader

        return SpanLedReader.load(answer, top_k)
    return RulesReader(answer, top_k)


def _what(refs: list[str]) -> str:
    """A short name for what an add read, for the ingest record."""
    shown = ", ".join(refs[:3])
    return shown + (f" and {len(refs) - 3} more" if len(refs) > 3 else "")


def _looks_like_url(ref: str) -> bool:
    return "://" in ref[:12]


def as_of_day(value: str | date | None) -> date | None:
    """The day a question is asked, checked: 'YYYY-MM-DD' becomes a date; a date (or datetime,
    which the reader reads as its day) or None (today) passes. Anything else: InputError."""
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise InputError(f"--as-of: {value!r} is not a date like 2025-01-31")
    return date.fromisoformat(_iso_bound(value, "as-of"))  # type: ignore[arg-type]


def _iso_bound(value: str | None, name: str) -> str | None:
    """The day of `value` as YYYY-MM-DD: the whole of it must be an ISO date (or an ISO date
    and time); '2025-01-01garbage' is refused, not read as its first ten characters."""
    if value is None:
        return None
    text = _check_text(value, f"--{name}").strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise InputError(f"--{name}: {value!r} is not a date like 2025-01-31") from None


def _check_text(value: str, what: str) -> str:
    """`value` when SQLite and the encoders can take it (no lone surrogates); else InputError."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} is not valid UTF-8 text") from None
    return value
