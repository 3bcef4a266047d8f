"""The SQLite side of the store: articles, passages, FTS5, metadata and the embedding cache.

The schema grows by numbered migrations (index/sqlite/schema.py; the `_migrations` table
records which ran). Every thread gets its own connection; the database runs in WAL mode so
readers never wait for the writer and always see the last committed state. `Database` is
the connection, transaction and metadata part; each table's reads and writes are a part of
their own (articles, memberships, passages, lexical, story_rows, caches).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import StoreError
from index.models import now_iso
from index.sqlite.articles import Articles
from index.sqlite.caches import Caches
from index.sqlite.lexical import Lexical
from index.sqlite.memberships import Memberships
from index.sqlite.passages import Passages
from index.sqlite.schema import _REBUILDS_TABLES, MIGRATIONS
from index.sqlite.story_rows import StoryRows


class Database(Articles, Memberships, Passages, Lexical, StoryRows, Caches):
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
        """Close every thread's connection (a later call opens a new one); the BM25 matrix
        is no longer kept (its build is stopped first)."""
        self._stop_bm25()
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
