"""`newsbot migrate --to postgresql://…`: copy the SQLite + FAISS store of a data directory
into a PostgreSQL + pgvector store, vectors included, never re-embedding anything.

The copy is one PostgreSQL transaction under the store's write lock: a copy killed at any
moment leaves the target as it was (empty, or with what `--replace` would have replaced).
Passages and their vectors go by binary COPY into a staging table, then into `passages` with
their full text made in SQL; into an empty target without the passages' secondary indexes
(the HNSW graph above all), built again once the rows are in (index/postgres/
passage_indexes.py), inside the same transaction.
Before it commits, the rows of both sides are counted (articles, passages, vectors,
collections, memberships, stories, ingests, feeds and their state) and any difference rolls
it back. The source is read in one SQLite read transaction while its write lock is held, so
the copy is one consistent state of it and its FAISS file cannot be replaced meanwhile.

What is copied comes in parts (`Part`): the store (`StorePart`), and those the caller adds
(`extra_parts`: the bot's settings, bot/guilds/migrate.py, which index/ knows nothing of).
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from index.errors import InputError, StoreError, StoreMismatch
from index.postgres.passage_indexes import (
    DEFAULT_MEMORY,
    DEFAULT_WORKERS,
    check_memory,
    check_workers,
)
from index.sqlite.store import DB_NAME, store_exists
from index.sqlite.vectors import VectorIndex, vector_file

Progress = Callable[[str, int, int], None]  # stage, done, total
BATCH = 2000  # rows read from SQLite (and vectors from FAISS) at a time

def _noop(stage: str, done: int, total: int) -> None:
    pass


@dataclass(frozen=True)
class Tally:
    """One thing counted on both sides after the copy."""

    what: str
    source: int
    target: int

    @property
    def same(self) -> bool:
        return self.source == self.target


class Part(Protocol):
    """One database of the data directory, copied inside the migration's transaction."""

    name: str

    def has_rows(self) -> bool:
        """Whether the source holds anything of this part to copy."""

    def holds(self, tx) -> list[str]:  # type: ignore[no-untyped-def]
        """What the target already holds of this part ("12 articles"); [] when empty."""

    def clear(self, tx) -> None:  # type: ignore[no-untyped-def]
        """Delete this part's rows in the target (--replace), inside the transaction."""

    def copy(self, tx, progress: Progress) -> list[Tally]:  # type: ignore[no-untyped-def]
        """Copy the source into the target; the counts of both sides afterwards."""

    def committed(self) -> None:
        """After the commit (tidying that needs no transaction)."""


# A Part made from (the source store's read connection, the data dir, the target PgDatabase).
PartFactory = Callable[[sqlite3.Connection, Path, Any], Part]


def check_url(url: str) -> str:
    """`url` when libpq reads it as a connection string (a URL or key/value), else
    InputError, which never repeats it (it may hold a password)."""
    from index.postgres import conninfo

    problem = conninfo.problem(url or "")
    if problem:
        raise InputError(
            "--to: the value given is not a PostgreSQL URL (postgresql://user@host/database)"
            f" or key/value connection string (host=… dbname=…) that libpq reads: {problem}"
            " (it is not shown, as it may hold a password)"
        )
    return url


# -- the store ------------------------------------------------------------------------------
# Tables copied as they are, in an order their foreign keys allow; `passages` (whose vectors
# come from FAISS and whose full text is made in PostgreSQL) is copied between articles and
# the tables that name articles.
PLAIN_BEFORE = [
    ("articles", "id, url, title, source, published, author, text, content_hash, added_at,"
                 " updated_at, origin"),
]
PLAIN_AFTER = [
    ("article_collections", "collection, article_id, added_at"),
    ("story_members", "article_id, story_id, shingles, signature"),
    ("ingests", "id, collection, at, what, added, updated, unchanged, skipped, skipped_reasons"),
    ("meta", "key, value"),
    ("embedding_cache", "model, text_hash, vector"),
    ("entity_cache", "model, text_hash, entities"),
    ("feeds", "url, interval_s, next_due, etag, last_modified, last_fetch_at, last_new_at,"
              " last_error, last_error_at, failures, added_at, waiting"),
    ("feed_followers", "url, collection, interval_s, added_at"),
    ("feed_entries", "url, entry, article_id, seen_at"),
    ("feed_entry_failures", "url, entry, failures, next_try, last_error"),
]
# Deleting these (in this order) empties the target store; the others follow by cascade.
CLEARED = ["articles", "feeds", "ingests", "meta", "embedding_cache", "entity_cache"]

# Counted on both sides: (what, SQL that counts it, the same in both databases).
COUNTS = [
    ("articles", "SELECT COUNT(*) FROM articles"),
    ("passages", "SELECT COUNT(*) FROM passages"),
    ("collections", "SELECT COUNT(*) FROM (SELECT collection FROM article_collections"
                    " UNION SELECT collection FROM ingests) c"),
    ("memberships", "SELECT COUNT(*) FROM article_collections"),
    ("story groups", "SELECT COUNT(DISTINCT story_id) FROM story_members"),
    ("ingests", "SELECT COUNT(*) FROM ingests"),
    ("feeds", "SELECT COUNT(*) FROM feeds"),
    ("feed followers", "SELECT COUNT(*) FROM feed_followers"),
    ("feed entries", "SELECT COUNT(*) FROM feed_entries"),
    ("failing entries", "SELECT COUNT(*) FROM feed_entry_failures"),
]


class StorePart:
    """news.sqlite3 and its current vectors.<generation>.faiss, into the PostgreSQL store."""

    name = "store"

    def __init__(  # type: ignore[no-untyped-def]
        self, conn: sqlite3.Connection, data_dir: Path, target, hnsw_m: int, *,
        maintenance_work_mem: str = DEFAULT_MEMORY, maintenance_workers: int = DEFAULT_WORKERS,
    ) -> None:
        self.src = conn  # inside a read transaction
        self.data_dir = data_dir
        self.target = target  # the PgDatabase
        self.hnsw_m = hnsw_m
        self.memory = maintenance_work_mem
        self.workers = maintenance_workers
        # Drop the passages' secondary indexes for the load and build them after it (set by
        # migrate_to_postgres: only into a target that held nothing).
        self.index_after_load = False
        self.dimension: int | None = None  # of the vectors copied

    def _meta(self, key: str) -> str | None:
        row = self.src.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _count(self, sql: str) -> int:
        return int(self.src.execute(sql).fetchone()[0])

    def vectors(self) -> VectorIndex | None:
        """The source's committed vectors, checked against its passages (None: a store that
        never held a passage)."""
        generation = int(self._meta("generation") or 0)
        passages = self._count("SELECT COUNT(*) FROM passages")
        if generation == 0 and passages == 0:
            return None
        from index.settings import IndexSettings

        index = VectorIndex.load(vector_file(self.data_dir, generation), IndexSettings())
        stored_dim = self._meta("dimension")
        if stored_dim is not None and int(stored_dim) != index.dimension:
            raise StoreMismatch(
                f"the store says its vectors are {stored_dim}-dimensional but"
                f" {vector_file(self.data_dir, generation).name} holds {index.dimension}-"
                "dimensional ones; run `newsbot index rebuild` before migrating"
            )
        ids = np.sort(index.ids())
        passage_ids = np.asarray(
            [r[0] for r in self.src.execute("SELECT id FROM passages ORDER BY id")],
            dtype=np.int64,
        )
        if not np.array_equal(ids, passage_ids):
            raise StoreMismatch(
                f"the vector index holds {index.size} vectors for the database's {passages}"
                " passages (not one each); run `newsbot index rebuild` before migrating"
            )
        return index

    # -- Part -------------------------------------------------------------------------------
    def has_rows(self) -> bool:
        return any(self._count(f"SELECT COUNT(*) FROM {t}") for t in ("articles", "feeds"))

    def holds(self, tx) -> list[str]:  # type: ignore[no-untyped-def]
        found = []
        for table, word in (("articles", "articles"), ("feeds", "followed feeds"),
                            ("ingests", "ingest records")):
            n = int(tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            if n:
                found.append(f"{n} {word}")
        if not found and tx.execute("SELECT 1 FROM meta WHERE key = 'generation'").fetchone():
            found.append("a store's metadata")
        return found

    def clear(self, tx) -> None:  # type: ignore[no-untyped-def]
        for table in CLEARED:  # DELETE, not TRUNCATE: readers see the old rows until commit
            tx.execute(f"DELETE FROM {table}")

    def copy(self, tx, progress: Progress) -> list[Tally]:  # type: ignore[no-untyped-def]
        index = self.vectors()
        if index is not None:
            # The HNSW index of the source's dimension (an emptied target's index of another
            # dimension goes once this commits: `committed`).
            self.target.ensure_dimension(tx, index.dimension, self.hnsw_m)
            self.dimension = index.dimension
        for table, columns in PLAIN_BEFORE:
            self._copy_table(tx, table, columns, progress)
        self._copy_passages(tx, index, progress)
        for table, columns in PLAIN_AFTER:
            self._copy_table(tx, table, columns, progress)
        # What the PostgreSQL store's vectors are; ids go on after the source's last ones.
        self.target.set_meta(tx, "index_type", "hnsw")
        for table in ("passages", "ingests"):
            self._continue_ids(tx, table)
        return self.tallies(tx, index)

    def committed(self) -> None:
        if self.dimension is not None:
            self.target.drop_other_dimensions(self.dimension)

    def tallies(self, tx, index: VectorIndex | None) -> list[Tally]:  # type: ignore[no-untyped-def]
        out = [
            Tally(what, self._count(sql), int(tx.execute(sql).fetchone()[0]))
            for what, sql in COUNTS
        ]
        vectors = int(tx.execute(
            "SELECT COUNT(*) FROM passages WHERE embedding IS NOT NULL"
        ).fetchone()[0])
        out.insert(2, Tally("vectors", index.size if index is not None else 0, vectors))
        return out

    # -- copying ----------------------------------------------------------------------------
    def _rows(self, sql: str) -> Iterator[list[tuple]]:
        cur = self.src.execute(sql)
        while rows := cur.fetchmany(BATCH):
            yield rows

    def _copy_table(self, tx, table: str, columns: str, progress: Progress) -> None:  # type: ignore[no-untyped-def]
        total = self._count(f"SELECT COUNT(*) FROM {table}")
        done = 0
        progress(f"copying {table}", 0, total)
        with tx.raw.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
            for rows in self._rows(f"SELECT {columns} FROM {table}"):
                for row in rows:
                    cp.write_row(row)
                done += len(rows)
                progress(f"copying {table}", done, total)

    def _copy_passages(self, tx, index: VectorIndex | None, progress: Progress) -> None:  # type: ignore[no-untyped-def]
        """Passages with their vectors (read from FAISS by id) into a staging table, then
        into `passages` with their full text made as the store makes it."""
        from pgvector.psycopg import register_vector

        from index.postgres.lexical import TITLE_OR_EMPTY, tsv_sql
        from index.postgres.passage_indexes import build_indexes, drop_secondary_indexes

        raw = tx.raw
        register_vector(raw)
        dim = index.dimension if index is not None else 1
        raw.execute(
            "CREATE TEMP TABLE _migrating_passages (id BIGINT, article_id TEXT, position INT,"
            f" text TEXT, entities TEXT, embedding vector({int(dim)})) ON COMMIT DROP"
        )
        total = self._count("SELECT COUNT(*) FROM passages")
        done = 0
        progress("copying passages and vectors", 0, total)
        with raw.cursor() as cur, cur.copy(
            "COPY _migrating_passages (id, article_id, position, text, entities, embedding)"
            " FROM STDIN (FORMAT BINARY)"
        ) as cp:
            cp.set_types(["int8", "text", "int4", "text", "text", "vector"])
            for rows in self._rows(
                "SELECT id, article_id, position, text, entities FROM passages ORDER BY id"
            ):
                assert index is not None  # vectors() checked one per passage
                vecs = index.vectors_of([r[0] for r in rows])
                for row, vec in zip(rows, vecs, strict=True):
                    cp.write_row((*row, np.asarray(vec, dtype=np.float32)))
                done += len(rows)
                progress("copying passages and vectors", done, total)
        # Into an empty target the indexes go first and are built once the rows are in: an
        # HNSW graph built in one pass is many times faster than one vector at a time.
        rebuild = drop_secondary_indexes(raw) if self.index_after_load else []
        progress("full text of passages", 0, 1)
        raw.execute(
            "INSERT INTO passages (id, article_id, position, text, entities, tsv, embedding)"
            " SELECT m.id, m.article_id, m.position, m.text, m.entities,"
            f" {tsv_sql(TITLE_OR_EMPTY, 'm.text')}, m.embedding"
            " FROM _migrating_passages m JOIN articles a ON a.id = m.article_id ORDER BY m.id"
        )
        progress("full text of passages", 1, 1)
        if rebuild:
            build_indexes(raw, rebuild, memory=self.memory, workers=self.workers,
                          progress=progress)

    def _continue_ids(self, tx, table: str) -> None:  # type: ignore[no-untyped-def]
        """The target's next id after the source's highest ever (SQLite's AUTOINCREMENT
        never gives an id twice; neither does the copy)."""
        row = self.src.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
        ).fetchone()
        last = max(int(row[0]) if row else 0,
                   self._count(f"SELECT COALESCE(MAX(id), 0) FROM {table}"))
        if last > 0:
            tx.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), ?, true)", (last,)
            )


# -- the migration --------------------------------------------------------------------------
@contextmanager
def source_snapshot(data_dir: Path) -> Iterator[sqlite3.Connection]:
    """The SQLite store of `data_dir` held still: its write lock (the one index/sqlite/store.py's
    writers take) and one read transaction, so every table and the FAISS file are read as
    one committed state."""
    if not store_exists(data_dir):
        raise InputError(f"no store to migrate: {data_dir / DB_NAME} does not exist")
    from index.sqlite.database import Database

    db = Database(data_dir / DB_NAME)  # checks it is a newsbot database (and migrates it)
    try:
        with open(data_dir / ".write.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            conn = db.connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("ROLLBACK")
                fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        db.close()


def migrate_to_postgres(
    data_dir: Path, url: str, *, replace: bool = False, hnsw_m: int = 32,
    progress: Progress | None = None, extra_parts: Sequence[PartFactory] = (),
    maintenance_work_mem: str = DEFAULT_MEMORY, maintenance_workers: int = DEFAULT_WORKERS,
) -> list[Tally]:
    """Copy the store of `data_dir` into the PostgreSQL store at `url` in one transaction
    (and the `extra_parts`, made once the target is open); the counts of both sides (all
    equal, else StoreError and nothing is written). Into an empty target the passages'
    indexes are built after the load, with `maintenance_work_mem` and `maintenance_workers`
    parallel workers."""
    from index.postgres.connection import redact
    from index.postgres.database import PgDatabase

    check_url(url)
    memory = check_memory(maintenance_work_mem)
    workers = check_workers(maintenance_workers)
    progress = progress or _noop
    with source_snapshot(Path(data_dir)) as conn:
        target = PgDatabase(url, pool_size=3)  # one-line errors when unreachable
        try:
            store = StorePart(conn, Path(data_dir), target, hnsw_m,
                              maintenance_work_mem=memory, maintenance_workers=workers)
            parts: list[Part] = [store]
            parts += [make(conn, Path(data_dir), target) for make in extra_parts]
            # Refused only when there is truly nothing: a store that never held an article
            # may still come with the bot's settings, answers and feedback.
            if not any(part.has_rows() for part in parts):
                others = "".join(f", and has no {part.name}" for part in parts[1:])
                raise InputError(
                    f"nothing to migrate: the store in {data_dir} holds no articles and follows"
                    f" no feeds{others}"
                )
            with target.write_lock(), target.transaction() as tx:
                held = [h for part in parts for h in part.holds(tx)]
                if held and not replace:
                    raise InputError(
                        f"the PostgreSQL store at {redact(url)} is not empty (it holds"
                        f" {', '.join(held)}); migrate copies into an empty store only, or"
                        " with --replace deletes what it holds in the same transaction"
                    )
                # Dropping the passages' indexes locks `passages` (ACCESS EXCLUSIVE) until
                # the commit: every reader of it waits for the whole copy. Into an empty
                # target nobody is reading anything yet. A --replace replaces a store that
                # may be serving a bot right now, and promises that its readers see the old
                # store until the commit (hence DELETE, not TRUNCATE, in `clear`): there the
                # rows go into the existing indexes, slower but never blocking a reader. An
                # operator who wants the fast path migrates into an empty database.
                store.index_after_load = not held
                if held:
                    for part in parts:
                        part.clear(tx)
                tallies = [t for part in parts for t in part.copy(tx, progress)]
                wrong = [t for t in tallies if not t.same]
                if wrong:  # raised inside the transaction: it rolls back
                    raise StoreError(
                        "the copy does not match its source ("
                        + "; ".join(f"{t.what}: {t.source} in SQLite, {t.target} in PostgreSQL"
                                    for t in wrong)
                        + "); nothing was written"
                    )
                progress("committing", 0, 1)
            progress("committing", 1, 1)
            for part in parts:
                part.committed()
            progress("planner statistics", 0, 1)
            target.analyze()
            progress("planner statistics", 1, 1)
            return tallies
        finally:
            target.close()
