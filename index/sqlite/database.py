"""The SQLite side of the store: articles, passages, FTS5, metadata and the embedding cache.

The schema grows by numbered migrations (the `_migrations` table records which ran). Every
thread gets its own connection; the database runs in WAL mode so readers never wait for the
writer and always see the last committed state.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from index.entities import Entity, loads
from index.errors import StoreError
from index.models import Article

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE articles (
            id TEXT PRIMARY KEY,
            url TEXT UNIQUE,
            title TEXT,
            source TEXT,
            published TEXT,
            author TEXT,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX articles_content_hash ON articles (content_hash);
        CREATE INDEX articles_published ON articles (published);
        CREATE TABLE passages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX passages_article ON passages (article_id, position);
        CREATE VIRTUAL TABLE passages_fts USING fts5 (
            title, text, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        """,
    ),
    (
        "002_embedding_cache",
        """
        CREATE TABLE embedding_cache (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, text_hash)
        ) WITHOUT ROWID;
        """,
    ),
    (
        # Where an article was read from (file path or URL): the trace for untitled articles.
        "003_article_origin",
        "ALTER TABLE articles ADD COLUMN origin TEXT",
    ),
    (
        # Named entities of each passage (index/entities.py), found once when it is written;
        # NULL in stores built before this (they gain them at `newsbot index rebuild`) or with
        # [ner] model = "none". The cache keeps them by passage text, like the vectors.
        "004_passage_entities",
        """
        ALTER TABLE passages ADD COLUMN entities TEXT;
        CREATE TABLE entity_cache (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            entities TEXT NOT NULL,
            PRIMARY KEY (model, text_hash)
        ) WITHOUT ROWID;
        """,
    ),
    (
        # Which collections hold each article (index/collections.py). A store made before
        # collections existed was the operator's: its articles become the shared collection.
        # `ingests` keeps what each add brought to a collection, for the stats.
        "005_collections",
        """
        CREATE TABLE article_collections (
            collection TEXT NOT NULL,
            article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
            added_at TEXT NOT NULL,
            PRIMARY KEY (collection, article_id)
        ) WITHOUT ROWID;
        CREATE INDEX article_collections_article ON article_collections (article_id);
        INSERT INTO article_collections (collection, article_id, added_at)
            SELECT 'shared', id, added_at FROM articles;
        CREATE TABLE ingests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            collection TEXT NOT NULL,
            at TEXT NOT NULL,
            what TEXT NOT NULL,
            added INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            unchanged INTEGER NOT NULL,
            skipped INTEGER NOT NULL,
            skipped_reasons TEXT NOT NULL
        );
        CREATE INDEX ingests_collection ON ingests (collection, id);
        """,
    ),
    (
        # Story groups (index/stories.py): copies of one story share a story id. Stores made
        # before have no rows here; their articles are grouped on the next write or rebuild.
        "006_story_groups",
        """
        CREATE TABLE story_members (
            article_id TEXT PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
            story_id TEXT NOT NULL,
            shingles INTEGER NOT NULL,
            signature BLOB NOT NULL
        );
        CREATE INDEX story_members_story ON story_members (story_id);
        """,
    ),
    (
        # Followed feeds (index/feedstate.py): one row per feed, its followers (collections),
        # and the entries already read from it.
        "007_followed_feeds",
        """
        CREATE TABLE feeds (
            url TEXT PRIMARY KEY,
            interval_s INTEGER NOT NULL,
            next_due REAL NOT NULL,
            etag TEXT,
            last_modified TEXT,
            last_fetch_at TEXT,
            last_new_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            added_at TEXT NOT NULL
        );
        CREATE INDEX feeds_due ON feeds (next_due);
        CREATE TABLE feed_followers (
            url TEXT NOT NULL REFERENCES feeds (url) ON DELETE CASCADE,
            collection TEXT NOT NULL,
            interval_s INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (url, collection)
        );
        CREATE INDEX feed_followers_collection ON feed_followers (collection);
        CREATE TABLE feed_entries (
            url TEXT NOT NULL REFERENCES feeds (url) ON DELETE CASCADE,
            entry TEXT NOT NULL,
            article_id TEXT,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (url, entry)
        ) WITHOUT ROWID
        """,
    ),
    (
        # One URL may be stored more than once: each collection that supplies its own text
        # under a URL gets its own article (index/store.py `_plan`), so a server is never
        # joined to another's copy by naming its URL. SQLite cannot drop a column's UNIQUE,
        # so the table is copied (every row kept, ids unchanged) with foreign keys off
        # (`_REBUILDS_TABLES`): dropping the old table must not cascade to passages.
        "008_article_url_not_unique",
        """
        CREATE TABLE articles_new (
            id TEXT PRIMARY KEY,
            url TEXT,
            title TEXT,
            source TEXT,
            published TEXT,
            author TEXT,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            origin TEXT
        );
        INSERT INTO articles_new (id, url, title, source, published, author, text,
            content_hash, added_at, updated_at, origin)
            SELECT id, url, title, source, published, author, text, content_hash, added_at,
            updated_at, origin FROM articles;
        DROP TABLE articles;
        ALTER TABLE articles_new RENAME TO articles;
        CREATE INDEX articles_content_hash ON articles (content_hash);
        CREATE INDEX articles_published ON articles (published);
        CREATE INDEX articles_url ON articles (url)
        """,
    ),
    (
        # A feed's entries that are not stored yet (index/feedstate.py): how many the last
        # poll left for later (`waiting`), and each entry that failed, retried with back-off.
        "009_feed_backlog",
        """
        ALTER TABLE feeds ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE feed_entry_failures (
            url TEXT NOT NULL REFERENCES feeds (url) ON DELETE CASCADE,
            entry TEXT NOT NULL,
            failures INTEGER NOT NULL,
            next_try REAL NOT NULL,
            last_error TEXT NOT NULL,
            PRIMARY KEY (url, entry)
        ) WITHOUT ROWID
        """,
    ),
]

# Migrations that copy a table others refer to: run with foreign keys off (SQLite ignores
# the pragma inside a transaction), checked with foreign_key_check before they commit.
_REBUILDS_TABLES = {"008_article_url_not_unique"}

_ARTICLE_COLUMNS = (
    "id, title, url, source, published, author, text, content_hash, added_at, updated_at, origin"
)


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


def _article(row: sqlite3.Row | tuple) -> Article:
    return Article(*row)


def _storable(text: str) -> str:
    """`text` as SQLite can store it: a file name's undecodable bytes (surrogates) and line
    breaks are written out."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\n", " ").replace("\r", " ")[:500]


_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)


class Database:
    """One SQLite file; a connection per thread (the search's worker threads have theirs),
    all closed by `close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[sqlite3.Connection] = set()  # every thread's, until `close`
        self.migrate()

    # -- connections and transactions -------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn not in self._open:
            conn = None  # closed by `close` (from another thread): open a new one
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"cannot open the database {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: everything inside commits together or not at all."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every thread's connection (a later call opens a new one)."""
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            conn.close()
        self._local.conn = None

    def migrate(self) -> None:
        conn = self.connection()
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, at TEXT)")
            done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a newsbot database ({exc})") from exc
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            rebuild = name in _REBUILDS_TABLES
            if rebuild:
                conn.execute("PRAGMA foreign_keys = OFF")
            try:
                with self.transaction() as tx:
                    # Another process may have run it since `done` was read.
                    if tx.execute(
                        "SELECT 1 FROM _migrations WHERE name = ?", (name,)
                    ).fetchone():
                        continue
                    for statement in sql.split(";"):
                        if statement.strip():
                            tx.execute(statement)
                    if rebuild and tx.execute("PRAGMA foreign_key_check").fetchone():
                        raise StoreError(f"{self.path}: migration {name} broke a reference")
                    tx.execute("INSERT INTO _migrations VALUES (?, ?)", (name, now_iso()))
            finally:
                if rebuild:
                    conn.execute("PRAGMA foreign_keys = ON")

    # -- metadata ---------------------------------------------------------------------------
    def get_meta(self, key: str, conn: sqlite3.Connection | None = None) -> str | None:
        row = (conn or self.connection()).execute(
            "SELECT value FROM meta WHERE key = ?", (key,)
        ).fetchone()
        return row[0] if row else None

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    # -- articles ---------------------------------------------------------------------------
    def article_by_id(self, article_id: str) -> Article | None:
        row = self.connection().execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return _article(row) if row else None

    def article_by_url(self, url: str, collection: str | None = None) -> Article | None:
        """The article stored under `url` that `collection` holds (None: the first stored
        under it, whoever holds it; several collections may each have their own)."""
        return self._article_where("a.url = ?", url, collection)

    def article_by_hash(self, digest: str, collection: str | None = None) -> Article | None:
        """An article with this text (content hash) that `collection` holds (None: any)."""
        return self._article_where("a.content_hash = ?", digest, collection)

    def _article_where(
        self, condition: str, value: str, collection: str | None
    ) -> Article | None:
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        sql, params = f"SELECT {cols} FROM articles a WHERE {condition}", [value]
        if collection is not None:
            sql += (" AND a.id IN (SELECT article_id FROM article_collections"
                    " WHERE collection = ?)")
            params.append(collection)
        row = self.connection().execute(
            sql + " ORDER BY a.added_at, a.id LIMIT 1", params
        ).fetchone()
        return _article(row) if row else None

    def articles_with_text(self, digest: str, url: str | None) -> list[Article]:
        """Every article stored with this text (content hash) under `url` (None: none)."""
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        sql = f"SELECT {cols} FROM articles a WHERE a.content_hash = ?"
        if url is None:
            rows = self.connection().execute(sql + " AND a.url IS NULL", (digest,))
        else:
            rows = self.connection().execute(sql + " AND a.url = ?", (digest, url))
        return [_article(r) for r in rows.fetchall()]

    def all_articles(self) -> list[Article]:
        rows = self.connection().execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY added_at, id"
        ).fetchall()
        return [_article(r) for r in rows]

    def articles_dated_before(self, day: str) -> list[Article]:
        """Articles whose date (published, else when added) is before `day` (YYYY-MM-DD)."""
        rows = self.connection().execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles"
            " WHERE substr(COALESCE(published, added_at), 1, 10) < ? ORDER BY id", (day,)
        ).fetchall()
        return [_article(r) for r in rows]

    def articles_beyond_newest(self, collection: str, keep: int) -> list[Article]:
        """Every article of `collection` but its `keep` newest (by date published, else
        added)."""
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        rows = self.connection().execute(
            f"SELECT {cols} FROM articles a JOIN article_collections ac ON ac.article_id = a.id"
            " WHERE ac.collection = ? ORDER BY COALESCE(a.published, a.added_at) DESC,"
            " a.added_at DESC, a.id LIMIT -1 OFFSET ?",
            (collection, keep),
        ).fetchall()
        return [_article(r) for r in rows]

    def upsert_article(self, conn: sqlite3.Connection, article: Article) -> None:
        conn.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET title = excluded.title, url = excluded.url,"
            " source = excluded.source, published = excluded.published,"
            " author = excluded.author, text = excluded.text,"
            " content_hash = excluded.content_hash, updated_at = excluded.updated_at,"
            " origin = excluded.origin",
            (
                article.id, article.title, article.url, article.source, article.published,
                article.author, article.text, article.content_hash, article.added_at,
                article.updated_at, article.origin,
            ),
        )

    def delete_article(self, conn: sqlite3.Connection, article_id: str) -> list[int]:
        ids = self.delete_passages_of(conn, article_id)
        conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return ids

    def counts(self) -> tuple[int, int]:
        conn = self.connection()
        articles = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        passages = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return articles, passages

    # -- collections ------------------------------------------------------------------------
    def members_version(self) -> int:
        """A number that changes with every membership change (which need not write vectors,
        so the generation may stay): what searches cache about collections is keyed by it."""
        return int(self.get_meta("members_version") or 0)

    def _bump_members(self, conn: sqlite3.Connection) -> None:
        self.set_meta(
            conn, "members_version", str(int(self.get_meta("members_version", conn) or 0) + 1)
        )

    def covers_every_article(self, collections: Sequence[str]) -> bool:
        """Whether every stored article is in one of `collections` (then filtering by them
        changes nothing, as in a store whose articles are all shared)."""
        marks = ",".join("?" * len(collections))
        return not self.connection().execute(
            "SELECT 1 FROM articles a WHERE NOT EXISTS (SELECT 1 FROM article_collections ac"
            f" WHERE ac.article_id = a.id AND ac.collection IN ({marks})) LIMIT 1",
            list(collections),
        ).fetchone()

    def add_members(self, conn: sqlite3.Connection, collection: str, ids: Iterable[str]) -> None:
        self._bump_members(conn)
        stamp = now_iso()
        conn.executemany(
            "INSERT OR IGNORE INTO article_collections (collection, article_id, added_at)"
            " VALUES (?, ?, ?)",
            [(collection, i, stamp) for i in dict.fromkeys(ids)],
        )

    def remove_members(
        self, conn: sqlite3.Connection, collection: str, ids: Iterable[str]
    ) -> list[str]:
        """Take `ids` out of `collection`; returns those no collection holds any more."""
        ids = list(dict.fromkeys(ids))
        self._bump_members(conn)
        conn.executemany(
            "DELETE FROM article_collections WHERE collection = ? AND article_id = ?",
            [(collection, i) for i in ids],
        )
        return [
            i for i in ids
            if conn.execute(
                "SELECT 1 FROM article_collections WHERE article_id = ? LIMIT 1", (i,)
            ).fetchone() is None
        ]

    def collections_of(self, article_id: str, conn: sqlite3.Connection | None = None) -> set[str]:
        return {
            r[0] for r in (conn or self.connection()).execute(
                "SELECT collection FROM article_collections WHERE article_id = ?", (article_id,)
            )
        }

    def in_collection(self, article_id: str, collection: str) -> bool:
        return self.connection().execute(
            "SELECT 1 FROM article_collections WHERE collection = ? AND article_id = ?",
            (collection, article_id),
        ).fetchone() is not None

    def collection_names(self) -> list[str]:
        """Collections holding at least one article or with an ingest on record."""
        rows = self.connection().execute(
            "SELECT collection FROM article_collections"
            " UNION SELECT collection FROM ingests ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def articles_in(self, collection: str) -> list[Article]:
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        rows = self.connection().execute(
            f"SELECT {cols} FROM articles a JOIN article_collections ac ON ac.article_id = a.id"
            " WHERE ac.collection = ? ORDER BY a.added_at, a.id",
            (collection,),
        ).fetchall()
        return [_article(r) for r in rows]

    def collection_counts(self, collection: str) -> CollectionCounts:
        """Articles, passages and bytes of text that `collection` holds (an article shared
        with other collections counts in each)."""
        row = self.connection().execute(
            "SELECT COUNT(*), COALESCE(SUM(length(CAST(a.text AS BLOB))), 0),"
            " COALESCE(SUM((SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id)), 0),"
            " COALESCE(SUM((SELECT SUM(length(CAST(p.text AS BLOB))) FROM passages p"
            "   WHERE p.article_id = a.id)), 0),"
            " COALESCE(SUM((SELECT COUNT(*) FROM article_collections o"
            "   WHERE o.article_id = a.id AND o.collection != ac.collection) = 0), 0)"
            " FROM article_collections ac JOIN articles a ON a.id = ac.article_id"
            " WHERE ac.collection = ?",
            (collection,),
        ).fetchone()
        return CollectionCounts(
            articles=int(row[0]), text_bytes=int(row[1]) + int(row[3]), passages=int(row[2]),
            only_here=int(row[4]),
        )

    def record_ingest(
        self, collection: str, what: str, added: int, updated: int, unchanged: int,
        skipped: list[str],
    ) -> None:
        reasons = [_storable(r) for r in skipped[:20]]  # the first few are enough to act on
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO ingests (collection, at, what, added, updated, unchanged, skipped,"
                " skipped_reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (collection, now_iso(), _storable(what), added, updated, unchanged,
                 len(skipped), "\n".join(reasons)),
            )

    def last_ingest(self, collection: str) -> Ingest | None:
        row = self.connection().execute(
            "SELECT at, what, added, updated, unchanged, skipped, skipped_reasons FROM ingests"
            " WHERE collection = ? ORDER BY id DESC LIMIT 1",
            (collection,),
        ).fetchone()
        if row is None:
            return None
        return Ingest(
            at=row[0], what=row[1], added=row[2], updated=row[3], unchanged=row[4],
            skipped=row[5], skipped_reasons=[r for r in row[6].split("\n") if r],
        )

    # -- passages ---------------------------------------------------------------------------
    def passage_ids_of(self, conn: sqlite3.Connection, article_id: str) -> list[int]:
        return [
            r[0]
            for r in conn.execute("SELECT id FROM passages WHERE article_id = ?", (article_id,))
        ]

    def delete_passages_of(self, conn: sqlite3.Connection, article_id: str) -> list[int]:
        ids = self.passage_ids_of(conn, article_id)
        conn.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(i,) for i in ids])
        conn.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
        return ids

    def delete_all_passages(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM passages_fts")
        conn.execute("DELETE FROM passages")

    def insert_passages(
        self, conn: sqlite3.Connection, article: Article, texts: list[str],
        entities: list[str | None] | None = None,
    ) -> list[int]:
        """Insert an article's passages; `entities` holds each one's stored entities (JSON)."""
        ids = []
        for position, text in enumerate(texts):
            cur = conn.execute(
                "INSERT INTO passages (article_id, position, text, entities) VALUES (?, ?, ?, ?)",
                (article.id, position, text, entities[position] if entities else None),
            )
            pid = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT INTO passages_fts (rowid, title, text) VALUES (?, ?, ?)",
                (pid, article.title or "", text),
            )
            ids.append(pid)
        return ids

    def all_passage_ids(self) -> list[int]:
        return [r[0] for r in self.connection().execute("SELECT id FROM passages ORDER BY id")]

    def passages(
        self, ids: Iterable[int], articles: dict[str, Article] | None = None
    ) -> dict[int, PassageRow]:
        """Passages by id with their articles, in ascending id order; ids no longer stored
        are simply absent.

        `articles`, when given, is a cache of articles by id that the caller keeps for one
        store generation: articles found there are not read again, and those read are added.
        (An article's full text is most of what these rows weigh, and one article usually
        holds several of the passages a question finds.)
        """
        ids = sorted(set(ids))
        if not ids:
            return {}
        conn = self.connection()
        rows = conn.execute(
            "SELECT id, position, text, article_id, entities FROM passages"
            f" WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id",
            ids,
        ).fetchall()
        known = articles if articles is not None else {}
        wanted = list({r[3] for r in rows if r[3] not in known})
        if wanted:
            for r in conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles"
                f" WHERE id IN ({','.join('?' * len(wanted))})",
                wanted,
            ):
                known[r[0]] = _article(r)
        # A passage whose article is gone (deleted between the two reads) is left out, as
        # the join would have; the caller's generation check then searches again.
        return {
            pid: PassageRow(pid, position, text, known[aid], loads(ents))
            for pid, position, text, aid, ents in rows
            if aid in known
        }

    def neighbours(self, article_id: str, position: int, span: int = 1) -> list[str]:
        """Texts of passages around `position` in one article, in order."""
        rows = self.connection().execute(
            "SELECT text FROM passages WHERE article_id = ? AND position BETWEEN ? AND ?"
            " ORDER BY position",
            (article_id, position - span, position + span),
        ).fetchall()
        return [r[0] for r in rows]

    def passage_filter(
        self,
        collections: Sequence[str] | None = None,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> PassageFilter | None:
        """The passages a search may return, as SQL (a subquery of passage ids) that both the
        FAISS id selector and the FTS5 query apply *inside* their search; None: all pass."""
        clauses, params = [], []
        if collections is not None:
            marks = ",".join("?" * len(collections))
            clauses.append(
                "p.article_id IN (SELECT article_id FROM article_collections"
                f" WHERE collection IN ({marks}))"
            )
            params += list(collections)
        if source or since or until:
            article_clauses = []
            if source:
                article_clauses.append("(lower(a.source) = lower(?) OR a.url LIKE ?)")
                params += [source, f"%{source.lower()}%"]
            if since:
                article_clauses.append("a.published >= ?")
                params.append(since)
            if until:
                article_clauses.append("substr(a.published, 1, ?) <= ?")
                params += [len(until), until]
            clauses.append(
                "p.article_id IN (SELECT a.id FROM articles a WHERE "
                + " AND ".join(article_clauses) + ")"
            )
        if not clauses:
            return None
        condition = " AND ".join(clauses)
        return PassageFilter(
            "SELECT p.id FROM passages p WHERE " + condition, tuple(params), condition
        )

    def passage_ids(self, where: PassageFilter) -> list[int]:
        return [r[0] for r in self.connection().execute(where.sql, where.params)]

    def filtered_passage_ids(
        self,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        collections: Sequence[str] | None = None,
    ) -> list[int] | None:
        """Ids of the passages that pass the filters (None: no filter, every passage)."""
        where = self.passage_filter(collections, source, since, until)
        if where is None:
            return None
        return [r[0] for r in self.connection().execute(where.sql, where.params)]

    # -- full text --------------------------------------------------------------------------
    # FTS5 keeps the word statistics BM25 needs itself.
    needs_term_stats = False

    def lexical_search(
        self, terms: list[str], limit: int, where: PassageFilter | None = None,
        stats: TermStats | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 over title and text for any of `terms`; (passage id, score), best first.

        `where` restricts the passages inside the query, before BM25's top `limit` is taken,
        so a small collection in a big store still gets its `limit` best matches. `stats`
        are not needed here (FTS5 has its own)."""
        tokens = [t for term in terms for t in _FTS_TOKEN.findall(term)]
        if not tokens:
            return []
        query = " OR ".join(f'"{t}"' for t in dict.fromkeys(tokens))
        sql = "SELECT rowid, bm25(passages_fts, 0.5, 1.0) AS score FROM passages_fts" \
            " WHERE passages_fts MATCH ?"
        params: list[object] = [query]
        if where is not None:
            # "+rowid": each match is checked against the subquery's ids (built once); a plain
            # "rowid IN" is handed to FTS5 as a rowid constraint, which runs the MATCH once per
            # allowed id (measured at 20k passages, 400 allowed: 226 ms, against 1.2 ms).
            sql += f" AND +rowid IN ({where.sql})"
            params += where.params
        try:
            rows = self.connection().execute(
                sql + " ORDER BY score LIMIT ?", (*params, limit)
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        return [(int(r[0]), -float(r[1])) for r in rows]

    def match_count(self, word: str, limit: int) -> int:
        """Passages holding `word` (stemmed as the passages were), counted up to `limit`, so
        that a very common word costs no more than that; 0 for what FTS5 cannot parse."""
        try:
            return self.connection().execute(
                "SELECT count(*) FROM (SELECT rowid FROM passages_fts"
                " WHERE passages_fts MATCH ? LIMIT ?)",
                (f'"{word}"', limit),
            ).fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    # -- story groups -----------------------------------------------------------------------
    def story_rows(self, conn: sqlite3.Connection) -> list[tuple[str, str, int, bytes]]:
        """(article id, story id, shingle count, MinHash signature) of every grouped article."""
        return conn.execute(
            "SELECT article_id, story_id, shingles, signature FROM story_members"
        ).fetchall()

    def ungrouped_articles(self, conn: sqlite3.Connection) -> list[Article]:
        """Articles with no story yet (stored before story groups existed)."""
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        rows = conn.execute(
            f"SELECT {cols} FROM articles a LEFT JOIN story_members s ON s.article_id = a.id"
            " WHERE s.article_id IS NULL"
        ).fetchall()
        return [_article(r) for r in rows]

    def set_story(
        self, conn: sqlite3.Connection, article_id: str, story_id: str, shingles: int,
        signature: bytes,
    ) -> None:
        conn.execute(
            "INSERT INTO story_members (article_id, story_id, shingles, signature)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (article_id) DO UPDATE SET"
            " story_id = excluded.story_id, shingles = excluded.shingles,"
            " signature = excluded.signature",
            (article_id, story_id, shingles, signature),
        )

    def merge_stories(self, conn: sqlite3.Connection, old: Iterable[str], new: str) -> None:
        conn.executemany(
            "UPDATE story_members SET story_id = ? WHERE story_id = ?", [(new, o) for o in old]
        )

    def delete_all_stories(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM story_members")

    def stories_of(self, article_ids: Iterable[str]) -> dict[str, str]:
        """article id -> story id, for those of `article_ids` that are grouped."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        rows = self.connection().execute(
            "SELECT article_id, story_id FROM story_members"
            f" WHERE article_id IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
        return dict(rows)

    def story_articles(
        self, story_ids: Iterable[str], collections: Sequence[str] | None = None
    ) -> dict[str, list[StoryCopy]]:
        """story id -> its articles (without their text), oldest first; only those in one of
        `collections` when given (None: every article)."""
        ids = list(dict.fromkeys(story_ids))
        if not ids:
            return {}
        sql = (
            "SELECT s.story_id, a.id, a.title, a.url, a.source, a.published"
            " FROM story_members s JOIN articles a ON a.id = s.article_id"
            f" WHERE s.story_id IN ({','.join('?' * len(ids))})"
        )
        params: list[str] = list(ids)
        if collections is not None:
            sql += (
                " AND a.id IN (SELECT article_id FROM article_collections"
                f" WHERE collection IN ({','.join('?' * len(collections))}))"
            )
            params += list(collections)
        out: dict[str, list[StoryCopy]] = {}
        for sid, aid, title, url, source, published in self.connection().execute(
            sql + " ORDER BY s.story_id, a.published NULLS FIRST, a.id", params
        ):
            out.setdefault(sid, []).append(StoryCopy(aid, title, url, source, published))
        return out

    # -- embedding cache --------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: list[str], dim: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        conn = self.connection()
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            marks = ",".join("?" * len(part))
            for digest, blob in conn.execute(
                f"SELECT text_hash, vector FROM embedding_cache WHERE model = ?"
                f" AND text_hash IN ({marks})",
                [model, *part],
            ):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape[0] == dim:
                    found[digest] = vec
        return found

    def cache_vectors(
        self, conn: sqlite3.Connection, model: str, items: list[tuple[str, np.ndarray]]
    ) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO embedding_cache (model, text_hash, vector) VALUES (?, ?, ?)",
            [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
        )

    def cached_entities(self, model: str, hashes: list[str]) -> dict[str, str]:
        """Stored entities (JSON) of passage texts by their hash, for the NER model `model`."""
        found: dict[str, str] = {}
        conn = self.connection()
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            found.update(conn.execute(
                "SELECT text_hash, entities FROM entity_cache WHERE model = ?"
                f" AND text_hash IN ({','.join('?' * len(part))})",
                [model, *part],
            ).fetchall())
        return found

    def cache_entities(
        self, conn: sqlite3.Connection, model: str, items: list[tuple[str, str]]
    ) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO entity_cache (model, text_hash, entities) VALUES (?, ?, ?)",
            [(model, h, e) for h, e in items],
        )

    def prune_entity_cache(self, conn: sqlite3.Connection, model: str, keep: set[str]) -> None:
        stored = [r[0] for r in conn.execute(
            "SELECT text_hash FROM entity_cache WHERE model = ?", (model,)
        )]
        conn.executemany(
            "DELETE FROM entity_cache WHERE model = ? AND text_hash = ?",
            [(model, h) for h in stored if h not in keep],
        )
        conn.execute("DELETE FROM entity_cache WHERE model != ?", (model,))

    def prune_cache(self, conn: sqlite3.Connection, model: str, keep: set[str]) -> None:
        stored = [r[0] for r in conn.execute(
            "SELECT text_hash FROM embedding_cache WHERE model = ?", (model,)
        )]
        stale = [(model, h) for h in stored if h not in keep]
        conn.executemany(
            "DELETE FROM embedding_cache WHERE model = ? AND text_hash = ?", stale
        )
        conn.execute("DELETE FROM embedding_cache WHERE model != ?", (model,))
