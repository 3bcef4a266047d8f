"""Plain records that move between the readers, the store and the search, and the rows both
store backends (index/sqlite/, index/postgres/) return."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from index.entities import Entity

_SPACE = re.compile(r"\s+")


def content_hash(text: str) -> str:
    """Hash of the text with white space folded, so re-wrapped copies count as the same text."""
    return hashlib.sha256(_SPACE.sub(" ", text).strip().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ArticleInput:
    """An article as a reader produced it, before the store gives it an id."""

    text: str
    title: str | None = None
    url: str | None = None
    source: str | None = None
    published: str | None = None  # ISO 8601 date or datetime; None when unknown
    author: str | None = None
    origin: str = ""  # where it came from (file path, URL), for reports only

    @property
    def content_hash(self) -> str:
        return content_hash(self.text)


@dataclass(frozen=True)
class Article:
    """An article as stored."""

    id: str
    title: str | None
    url: str | None
    source: str | None
    published: str | None
    author: str | None
    text: str
    content_hash: str
    added_at: str
    updated_at: str
    origin: str | None = None  # the file or URL it was read from

    @property
    def display_title(self) -> str:
        if self.title:
            return self.title
        # No title: name the file it came from, so the source can still be traced.
        name = (self.origin or "").replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        return f"Untitled article ({name})" if name else "Untitled article"


@dataclass(frozen=True)
class Passage:
    """A run of whole sentences from one article."""

    article_id: str
    position: int  # 0-based order within the article
    text: str
    id: int | None = None  # SQLite row id == FAISS id, once stored


@dataclass(frozen=True)
class Skipped:
    """Something a reader or the store did not add, and why (one line a user can act on)."""

    origin: str
    reason: str


@dataclass
class ReadResult:
    """What a reader produced from one or more inputs."""

    articles: list[ArticleInput] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        self.articles.extend(other.articles)
        self.skipped.extend(other.skipped)


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class PassageFilter:
    """A subquery selecting passage ids (`p` is the passages table), with its parameters."""

    sql: str
    params: tuple[object, ...]
    condition: str = ""  # the same test as a WHERE condition on `p` (the PostgreSQL search)


@dataclass(frozen=True)
class TermStats:
    """How many of the store's passages hold each query word (counted up to the searcher's
    common-word limit), for a backend that ranks with them (`needs_term_stats`)."""

    passages: int
    frequencies: Mapping[str, int]


@dataclass(frozen=True)
class PassageRow:
    """A passage joined with the article it belongs to, as search needs it."""

    id: int
    position: int
    text: str
    article: Article
    # Named entities (start, end, label) in `text`; None when none were stored for it.
    entities: tuple[Entity, ...] | None = None


@dataclass(frozen=True)
class CollectionCounts:
    articles: int
    passages: int
    text_bytes: int  # article and passage text, in UTF-8
    only_here: int  # articles no other collection holds


@dataclass(frozen=True)
class Ingest:
    """One add into a collection, as `newsbot index stats` shows the last one."""

    at: str
    what: str  # what was read: paths, URLs, a feed
    added: int
    updated: int
    unchanged: int
    skipped: int
    skipped_reasons: list[str]  # the first few, "origin: reason"


@dataclass(frozen=True)
class StoryCopy:
    """One article of a story group, as an answer names it (no text)."""

    article_id: str
    title: str | None
    url: str | None
    source: str | None
    published: str | None

