"""The PostgreSQL side of the store: index/sqlite/database.py's repository, on a connection
pool.

`PgDatabase` is a `Database` whose connections speak sqlite3's small API (`execute` with `?`
placeholders, `fetchone`, `fetchall`, `rowcount`, `executemany`), so the repository's SQL,
the story groups (index/stories.py) and the followed feeds (index/feedstate.py) run here
unchanged; only what SQLite spells differently is written again below (FTS5 becomes the
passages' `tsv` column, `INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`, ...).

Reads borrow a pooled connection for one statement. A write transaction first takes one
transaction-level advisory lock, so writes follow each other as SQLite's BEGIN IMMEDIATE
makes them, across every process sharing the database. A connection lost (server down,
restarted, unreachable) raises StoreUnavailable; the pool checks each connection it hands
out, so the next call after the server is back works.

Reads are bounded by the statement timeout ([store] statement_timeout_s): one that waits on
a lock held forever, or runs away, is cancelled by the server and raises StoreTimedOut (a
short "try again"). Writes are not: every write transaction, the write lock's wait, the
migrations and every read made inside a Store write (`unbounded`: a rebuild reads every
article) run without it, since a rebuild or a big add legitimately takes long and waits for
the writer before it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from index.errors import StoreError
from index.models import Article, CollectionCounts, now_iso
from index.postgres.adapter import Borrowing, PgConnection, pg_sql, unavailable_as_error
from index.postgres.connection import (
    LOCK_SPACE,
    UNBOUNDED,
    migrate,
    open_pool,
    redact,
    timeout_ms,
)
from index.postgres.lexical import _TSV, PgLexical
from index.postgres.schema import MIGRATIONS, NAMESPACE
from index.postgres.vectors import VectorColumns
from index.sqlite.articles import _ARTICLE_COLUMNS
from index.sqlite.database import Database

TX_LOCK = 1000  # (LOCK_SPACE, this): held by each write transaction of the store
WRITE_LOCK = 1001  # (LOCK_SPACE, this): held by a Store write (plan, embed, commit)


def _configure(conn: psycopg.Connection) -> None:
    """Each new pooled connection: pgvector's types, and filtered HNSW scans that go on
    until they have found enough rows (pgvector >= 0.8; older servers keep the setting as an
    unused placeholder)."""
    with suppress(psycopg.ProgrammingError):  # no extension yet: PgDatabase creates it
        register_vector(conn)
    conn.execute("SET hnsw.iterative_scan = relaxed_order")


class PgDatabase(VectorColumns, PgLexical, Database):
    """The store's tables in one PostgreSQL database (index/postgres/schema.py); its vectors
    (vectors.py) and full-text search (lexical.py) are parts of their own."""

    def __init__(
        self, url: str, pool_size: int = 8, *, timeout_s: float = 10.0,
        statement_timeout_s: float | None = None,
    ) -> None:
        """`statement_timeout_s`: the bound on each read (None or 0: none; see the module)."""
        self.url = url
        self.path = redact(url)  # what messages name
        self.statement_timeout_ms = timeout_ms(statement_timeout_s)
        self._local = threading.local()  # .unbounded: this thread is inside a Store write
        self.pool = open_pool(
            url, max_size=max(3, pool_size), timeout_s=timeout_s, configure=_configure,
            statement_timeout_s=statement_timeout_s,
        )
        try:
            self.migrate()
        except BaseException:
            self.pool.close()
            raise

    # -- connections and transactions -------------------------------------------------------
    def connection(self) -> Borrowing:  # type: ignore[override]
        return Borrowing(self)

    @contextmanager
    def unbounded(self) -> Iterator[None]:
        """The block's statements in this thread run without the statement timeout: a Store
        write's reads (a rebuild reads every article), which may legitimately take long."""
        outer = self.is_unbounded()
        self._local.unbounded = True
        try:
            yield
        finally:
            self._local.unbounded = outer

    def is_unbounded(self) -> bool:
        return getattr(self._local, "unbounded", False)

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:  # type: ignore[override]
        """One atomic write, after every other write transaction of this database (waited
        for as long as they take: no statement timeout in a write)."""
        with unavailable_as_error(), self.pool.connection() as raw, raw.transaction():
            raw.execute(UNBOUNDED)
            raw.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, TX_LOCK))
            yield PgConnection(raw)

    @contextmanager
    def transaction_for_reads(self) -> Iterator[PgConnection]:
        """A transaction that only reads (for settings local to it); no lock taken."""
        with unavailable_as_error(), self.pool.connection() as raw, raw.transaction():
            if self.is_unbounded():
                raw.execute(UNBOUNDED)
            yield PgConnection(raw)

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """The store's one writer at a time, across processes (a session advisory lock,
        released by the server if this process dies), waited for as long as the writer
        before takes (a rebuild may take an hour)."""
        with unavailable_as_error(), self.pool.connection() as raw:
            with raw.transaction():  # the session lock outlives this transaction
                raw.execute(UNBOUNDED)
                raw.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, WRITE_LOCK))
            try:
                yield
            finally:
                with suppress(psycopg.Error):
                    raw.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, WRITE_LOCK))

    def close(self) -> None:
        self.pool.close()

    def migrate(self) -> None:
        # no statement timeout: connection.migrate says UNBOUNDED in each of its transactions
        with unavailable_as_error(), self.pool.connection() as raw:
            if raw.execute(
                "SELECT 1 FROM pg_extension WHERE extname = 'vector'"
            ).fetchone() is None:
                try:
                    raw.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.errors.UniqueViolation:
                    pass  # another process created it meanwhile
                except psycopg.Error as exc:
                    raise StoreError(
                        "the pgvector extension is not installed in this database and this"
                        " user cannot install it: run `CREATE EXTENSION vector` in it as its"
                        f" owner ({str(exc).strip().splitlines()[0]})"
                    ) from exc
                register_vector(raw)  # this connection was opened before the extension
            migrate(raw, NAMESPACE, MIGRATIONS)

    # -- articles ---------------------------------------------------------------------------
    def articles_beyond_newest(self, collection: str, keep: int) -> list[Article]:
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        rows = self.connection().execute(
            f"SELECT {cols} FROM articles a JOIN article_collections ac ON ac.article_id = a.id"
            " WHERE ac.collection = ? ORDER BY COALESCE(a.published, a.added_at) DESC,"
            " a.added_at DESC, a.id OFFSET ?",
            (collection, keep),
        ).fetchall()
        return [Article(*r) for r in rows]

    # -- collections ------------------------------------------------------------------------
    def add_members(self, conn, collection: str, ids: Iterable[str]) -> None:  # type: ignore[no-untyped-def]
        self._bump_members(conn)
        stamp = now_iso()
        conn.executemany(
            "INSERT INTO article_collections (collection, article_id, added_at)"
            " VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(collection, i, stamp) for i in dict.fromkeys(ids)],
        )

    def collection_counts(self, collection: str) -> CollectionCounts:
        row = self.connection().execute(
            "SELECT COUNT(*), COALESCE(SUM(octet_length(a.text)), 0),"
            " COALESCE(SUM((SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id)), 0),"
            " COALESCE(SUM((SELECT SUM(octet_length(p.text)) FROM passages p"
            "   WHERE p.article_id = a.id)), 0),"
            " COUNT(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM article_collections o"
            "   WHERE o.article_id = a.id AND o.collection != ac.collection))"
            " FROM article_collections ac JOIN articles a ON a.id = ac.article_id"
            " WHERE ac.collection = ?",
            (collection,),
        ).fetchone()
        assert row is not None
        return CollectionCounts(
            articles=int(row[0]), text_bytes=int(row[1]) + int(row[3]), passages=int(row[2]),
            only_here=int(row[4]),
        )

    # -- passages ---------------------------------------------------------------------------
    def delete_passages_of(self, conn, article_id: str) -> list[int]:  # type: ignore[no-untyped-def]
        return [r[0] for r in conn.execute(
            "DELETE FROM passages WHERE article_id = ? RETURNING id", (article_id,)
        )]

    def delete_all_passages(self, conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute("DELETE FROM passages")

    def insert_passages(
        self, conn, article: Article, texts: list[str],  # type: ignore[no-untyped-def]
        entities: list[str | None] | None = None,
    ) -> list[int]:
        """Insert an article's passages with their full text (`tsv`); their vectors follow
        in the same transaction (`set_vectors`)."""
        if not texts:
            return []
        title = article.title or ""
        rows = [
            (article.id, position, text, entities[position] if entities else None, title, text)
            for position, text in enumerate(texts)
        ]
        ids: list[int] = []
        with unavailable_as_error(), conn.raw.cursor() as cur:
            cur.executemany(
                pg_sql(
                    "INSERT INTO passages (article_id, position, text, entities, tsv)"
                    f" VALUES (?, ?, ?, ?, {_TSV}) RETURNING id"
                ),
                rows, returning=True,
            )
            while True:
                ids.append(int(cur.fetchone()[0]))  # type: ignore[index]
                if not cur.nextset():
                    break
        return ids

    # -- story groups -----------------------------------------------------------------------
    def story_rows(self, conn) -> list[tuple[str, str, int, bytes]]:  # type: ignore[no-untyped-def]
        return [
            (aid, sid, size, bytes(sig)) for aid, sid, size, sig in conn.execute(
                "SELECT article_id, story_id, shingles, signature FROM story_members"
            )
        ]

    # -- caches -----------------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: list[str], dim: int) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), 1000):
            part = hashes[start : start + 1000]
            for digest, blob in self.connection().execute(
                "SELECT text_hash, vector FROM embedding_cache WHERE model = ?"
                " AND text_hash = ANY(?)", (model, part),
            ):
                vec = np.frombuffer(bytes(blob), dtype=np.float32)
                if vec.shape[0] == dim:
                    found[digest] = vec
        return found

    def cache_vectors(self, conn, model: str, items: list[tuple[str, np.ndarray]]) -> None:  # type: ignore[no-untyped-def]
        conn.executemany(
            "INSERT INTO embedding_cache (model, text_hash, vector) VALUES (?, ?, ?)"
            " ON CONFLICT (model, text_hash) DO UPDATE SET vector = excluded.vector",
            [(model, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items],
        )

    def cached_entities(self, model: str, hashes: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(hashes), 1000):
            part = hashes[start : start + 1000]
            found.update(self.connection().execute(
                "SELECT text_hash, entities FROM entity_cache WHERE model = ?"
                " AND text_hash = ANY(?)", (model, part),
            ).fetchall())
        return found

    def cache_entities(self, conn, model: str, items: list[tuple[str, str]]) -> None:  # type: ignore[no-untyped-def]
        conn.executemany(
            "INSERT INTO entity_cache (model, text_hash, entities) VALUES (?, ?, ?)"
            " ON CONFLICT (model, text_hash) DO UPDATE SET entities = excluded.entities",
            [(model, h, e) for h, e in items],
        )

    def prune_cache(self, conn, model: str, keep: set[str]) -> None:  # type: ignore[no-untyped-def]
        conn.execute(
            "DELETE FROM embedding_cache WHERE model != ? OR NOT (text_hash = ANY(?))",
            (model, list(keep)),
        )

    def prune_entity_cache(self, conn, model: str, keep: set[str]) -> None:  # type: ignore[no-untyped-def]
        conn.execute(
            "DELETE FROM entity_cache WHERE model != ? OR NOT (text_hash = ANY(?))",
            (model, list(keep)),
        )

    # -- facts ------------------------------------------------------------------------------
    def size_bytes(self) -> int:
        return int(self.connection().execute(
            "SELECT pg_database_size(current_database())"
        ).fetchone()[0])  # type: ignore[index]
