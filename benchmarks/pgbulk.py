"""PostgreSQL for the benchmarks: a server to measure (an embedded PostgreSQL 18 + pgvector,
or one at `--pg-url`), a fresh database in it, an SQLite + FAISS store copied into it by a
bulk path, and the server's memory.

The bulk path (`copy_store`) is the benchmark's, not the product's write path (PgStore
writes each article's passages with `INSERT ... RETURNING` and its vectors with one `UPDATE`
a passage, which is right for a few articles at a time and far too slow for a million
passages). It reads the SQLite rows and the FAISS vectors as they are (no re-embedding),
creates the tables by the product's own migrations, drops the passages' secondary indexes,
streams the rows in with binary COPY (pgvector's binary format), computes each passage's
weighted tsvector exactly as index/postgres/database.py does, and only then builds the
indexes (the HNSW one with a large maintenance_work_mem and parallel workers), so the result
is the store PgStore itself would have written, index names included: which indexes and how
they are built is index/postgres/passage_indexes.py's, as for `newsbot migrate`. Unlike
migrate, the indexes are built after the rows' commit, each timed, so that an HNSW build cut
by `build_timeout_s` leaves the rows and the other indexes to measure. The caches
(embedding, entities) and the followed feeds are not copied: no question reads them.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psutil
import psycopg
from pgvector.psycopg import register_vector

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_SIZE = re.compile(r"^\d+(kB|MB|GB)$")


def _size(value: str) -> str:
    if not _SIZE.match(value):
        raise SystemExit(f"{value!r}: a PostgreSQL size such as 512MB or 4GB")
    return value


@contextmanager
def server(url: str | None, shared_buffers: str = "2GB") -> Iterator[str]:
    """An administrator's URL: `url` as given, or a PostgreSQL 18 + pgvector started for
    this run in a temporary folder (tests/pg_server.py), with `shared_buffers` set (and
    max_wal_size raised for the bulk load), removed afterwards."""
    if url:
        yield url
        return
    from tests.pg_server import EmbeddedPostgres

    pg = EmbeddedPostgres()
    try:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET shared_buffers = '{_size(shared_buffers)}'")
            conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
        pg.stop()
        pg.start()  # shared_buffers takes a restart
        yield pg.url()
    finally:
        pg.close()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new database with pgvector on `admin_url`'s server (dropped afterwards); its URL."""
    name = "newsbot_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_of(url: str) -> dict[str, str]:
    names = ("server_version", "shared_buffers", "work_mem", "max_wal_size")
    with psycopg.connect(url, autocommit=True) as conn:
        out = {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]
        out["pgvector"] = str(conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()[0])  # type: ignore[index]
    return out


# -- memory --------------------------------------------------------------------------------
def postmaster(url: str) -> psutil.Process | None:
    """The server's main process, when it runs on this machine (None: elsewhere)."""
    with psycopg.connect(url, autocommit=True) as conn:
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        try:
            # A backend is a child of the postmaster; read it while the backend still lives.
            return psutil.Process(pid).parent()
        except psutil.Error:
            return None


def memory_mb(main: psutil.Process) -> dict[str, float]:
    """The server's memory now: every process's resident set summed (shared buffers are
    counted once per process that touched them, so this overstates), and the proportional
    set size summed (each shared page divided among the processes sharing it: the server's
    real footprint)."""
    rss = pss = 0
    count = 0
    for proc in [main, *main.children(recursive=True)]:
        try:
            full = proc.memory_full_info()
        except psutil.Error:
            continue  # a backend that ended meanwhile
        rss += full.rss
        pss += getattr(full, "pss", 0)
        count += 1
    return {"rss_sum_mb": round(rss / 2**20), "pss_sum_mb": round(pss / 2**20),
            "processes": count}


class MemorySampler:
    """The server's memory sampled every `every_s` seconds in a thread; the largest seen."""

    def __init__(self, main: psutil.Process | None, every_s: float = 1.0) -> None:
        self.main = main
        self.every_s = every_s
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemorySampler:
        if self.main is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = memory_mb(self.main)  # type: ignore[arg-type]
            for key in ("rss_sum_mb", "pss_sum_mb"):
                self.peak[key] = max(self.peak.get(key, 0), now[key])
            self._stop.wait(self.every_s)


# -- the bulk copy -------------------------------------------------------------------------
_PASSAGE_LOAD = (
    "CREATE TEMP TABLE passages_load (id BIGINT, article_id TEXT, position INTEGER, text TEXT,"
    " entities TEXT, embedding vector) ON COMMIT DROP"
)


def copy_store(
    data_dir: Path, url: str, *, hnsw_m: int, maintenance_work_mem: str = "4GB",
    workers: int = 1, build_timeout_s: float = 0, say: Callable[[str], None] = print,
) -> dict:
    """Copy the SQLite + FAISS store in `data_dir` into the empty database at `url`;
    seconds per step and the counts. An HNSW build that runs past `build_timeout_s` (0: no
    limit) is cancelled: `hnsw` then says how far it got and the store has no HNSW index."""
    from index.postgres.adapter import PgConnection
    from index.postgres.database import PgDatabase
    from index.postgres.lexical import TITLE_OR_EMPTY, tsv_sql
    from index.postgres.passage_indexes import drop_secondary_indexes, maintenance_settings
    from index.postgres.vectors import vector_index_name
    from index.settings import IndexSettings
    from index.sqlite.articles import _ARTICLE_COLUMNS
    from index.sqlite.database import Database
    from index.sqlite.store import DB_NAME
    from index.sqlite.vectors import VectorIndex, vector_file

    timings: dict[str, float] = {}
    started = time.perf_counter()
    src = Database(data_dir / DB_NAME)
    meta = dict(src.connection().execute("SELECT key, value FROM meta").fetchall())
    index = VectorIndex.load(vector_file(data_dir, src.generation()), IndexSettings())
    ids, vectors = index.ids(), index.vectors()
    del index
    order = np.argsort(ids)
    ids, vectors = ids[order], vectors[order]
    dim = int(vectors.shape[1])
    timings["read_faiss_s"] = time.perf_counter() - started

    maintenance_settings(maintenance_work_mem, workers)  # checked before the long part
    target = PgDatabase(url)  # the tables, by the product's migrations
    started = time.perf_counter()
    with psycopg.connect(url) as conn:  # one transaction: all the rows or none
        register_vector(conn)
        conn.add_notice_handler(lambda d: say(f"postgres: {d.message_primary}"))
        # The indexes PgStore has for these vectors (the HNSW one of their dimension made as
        # its first write makes it), dropped for the load and built again after it.
        target.ensure_dimension(PgConnection(conn), dim, hnsw_m)
        indexes = drop_secondary_indexes(conn)
        cur = conn.cursor()
        with cur.copy(f"COPY articles ({_ARTICLE_COLUMNS}) FROM STDIN") as copy:
            for row in src.connection().execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles"):
                copy.write_row(tuple(row))
        cur.execute(_PASSAGE_LOAD)
        rows = src.connection().execute(
            "SELECT id, article_id, position, text, entities FROM passages ORDER BY id"
        )
        n = 0
        with cur.copy("COPY passages_load FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["bigint", "text", "integer", "text", "text", "vector"])
            for row in rows:
                if row[0] != ids[n]:
                    raise SystemExit(f"passage {row[0]} has no vector (FAISS has {ids[n]})")
                copy.write_row((*tuple(row), vectors[n]))
                n += 1
        if n != len(ids):
            raise SystemExit(f"{len(ids)} vectors for {n} passages")
        del vectors
        timings["copy_s"] = time.perf_counter() - started
        t = time.perf_counter()
        # The weighted tsvector as every writer of the store computes it (tsv_sql).
        cur.execute(
            "INSERT INTO passages (id, article_id, position, text, entities, tsv, embedding)"
            " SELECT l.id, l.article_id, l.position, l.text, l.entities,"
            f" {tsv_sql(TITLE_OR_EMPTY, 'l.text')}, l.embedding"
            " FROM passages_load l JOIN articles a ON a.id = l.article_id ORDER BY l.id"
        )
        timings["tsvector_s"] = time.perf_counter() - t
        for table, cols in (
            ("article_collections", "collection, article_id, added_at"),
            ("story_members", "article_id, story_id, shingles, signature"),
            ("ingests", "id, collection, at, what, added, updated, unchanged, skipped,"
                        " skipped_reasons"),
        ):
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in src.connection().execute(f"SELECT {cols} FROM {table}"):
                    copy.write_row(tuple(row))
        meta["index_type"] = "hnsw"
        cur.executemany("INSERT INTO meta (key, value) VALUES (%s, %s)", list(meta.items()))
        for table in ("passages", "ingests"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" GREATEST(1, (SELECT COALESCE(MAX(id), 0) FROM {table})))"
            )
    src.close()
    target.close()
    timings["rows_s"] = time.perf_counter() - started

    hnsw: dict = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: say(f"postgres: {d.message_primary}"))
        for sql in maintenance_settings(maintenance_work_mem, workers, local=False):
            conn.execute(sql)  # autocommit: for the session
        keys = {"passages_article": "article_index_s", "passages_tsv": "gin_index_s",
                vector_index_name(dim): "hnsw_index_s"}
        for key, sql in (
            *((keys.get(index.name, f"{index.name}_s"), index.definition) for index in indexes),
            ("vacuum_analyze_s", "VACUUM ANALYZE"),
        ):
            t = time.perf_counter()
            if key != "hnsw_index_s":
                conn.execute(sql)
            else:
                hnsw = _build_hnsw(conn, url, sql, build_timeout_s, say)
                if not hnsw["built"]:
                    continue
            timings[key] = time.perf_counter() - t
            say(f"{key}: {timings[key]:.1f} s")
        passages = int(conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0])  # type: ignore[index]
        sizes = {
            name: round(int(conn.execute(
                "SELECT pg_relation_size(%s)", (name,)
            ).fetchone()[0]) / 2**20)  # type: ignore[index]
            for name in ("passages", vector_index_name(dim), "passages_tsv")
            if conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None  # type: ignore[index]
        }
        db_mb = round(int(conn.execute(
            "SELECT pg_database_size(current_database())"
        ).fetchone()[0]) / 2**20)  # type: ignore[index]
    if passages != n:
        raise SystemExit(f"copied {passages} passages of {n}")
    return {
        "passages": passages, "dimension": dim, "hnsw_m": hnsw_m,
        "maintenance_work_mem": maintenance_work_mem, "parallel_workers": workers,
        **{k: round(v, 1) for k, v in timings.items()},
        "hnsw": hnsw, "relation_mb": sizes, "database_mb": db_mb,
    }


def _build_hnsw(
    conn: psycopg.Connection, url: str, sql: str, timeout_s: float, say: Callable[[str], None]
) -> dict:
    """Run the HNSW `CREATE INDEX`, its progress (pg_stat_progress_create_index) logged
    from another connection (every 30 s, or a third of a shorter limit); cancelled after
    `timeout_s` (0: never)."""
    progress: dict = {}
    done = threading.Event()
    every_s = max(1.0, min(30.0, timeout_s / 3)) if timeout_s else 30.0

    def watch() -> None:
        with psycopg.connect(url, autocommit=True) as other:
            started = time.perf_counter()
            while not done.wait(every_s):
                row = other.execute(
                    "SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index"
                    " WHERE relid = 'passages'::regclass"
                ).fetchone()
                if row is not None:
                    progress.update(phase=row[0], tuples_done=int(row[1]),
                                    tuples_total=int(row[2]),
                                    at_s=round(time.perf_counter() - started))
                    say(f"hnsw build: {progress}")

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    try:
        if timeout_s:
            conn.execute(f"SET statement_timeout = '{int(timeout_s * 1000)}ms'")
        conn.execute(sql)
        built = True
    except psycopg.errors.QueryCanceled:
        built = False
        say(f"hnsw build cancelled after {time.perf_counter() - started:.0f} s: {progress}")
    finally:
        conn.execute("SET statement_timeout = 0")
        done.set()
        watcher.join()
    return {"built": built, "seconds": round(time.perf_counter() - started, 1),
            "last_progress": progress}
