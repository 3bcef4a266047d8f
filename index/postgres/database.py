"""The PostgreSQL side of the store: index/database.py's repository, on a connection pool.

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

import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import PoolTimeout

from index.database import (
    _ARTICLE_COLUMNS,
    _FTS_TOKEN,
    CollectionCounts,
    Database,
    PassageFilter,
    TermStats,
    now_iso,
)
from index.errors import StoreError, StoreTimedOut, StoreUnavailable
from index.models import Article
from index.postgres.connection import (
    LOCK_SPACE,
    UNBOUNDED,
    migrate,
    open_pool,
    redact,
    timeout_ms,
)
from index.postgres.schema import MIGRATIONS, NAMESPACE, TS_CONFIG

TX_LOCK = 1000  # (LOCK_SPACE, this): held by each write transaction of the store
WRITE_LOCK = 1001  # (LOCK_SPACE, this): held by a Store write (plan, embed, commit)

# The lexical search's bound (PgDatabase.lexical_search): the rarest words are searched alone
# while they hold at most this many passages together; the rest only in pairs, at most this
# many of them (45 pairs).
RARE_ROWS = 3000
PAIRED_WORDS = 10
COUNTED_ROWS = 10_000  # a word's passages counted up to this when no counts are given

UNAVAILABLE = "the database is unavailable just now; try again in a moment"
TIMED_OUT = (
    "the database took too long to answer ([store] statement_timeout_s); try again in a moment"
)

def tsv_sql(title: str, text: str) -> str:
    """A passage's weighted full text from the SQL expressions of its article's title and its
    text (title A, text B: the lexical search weighs a title word half); every writer of
    `tsv` uses this."""
    return (
        f"setweight(to_tsvector('{TS_CONFIG}', {title}), 'A')"
        f" || setweight(to_tsvector('{TS_CONFIG}', {text}), 'B')"
    )


_TSV = tsv_sql("?", "?")
TITLE_OR_EMPTY = "COALESCE(a.title, '')"  # tsv_sql's title over a join with articles `a`


def vector_index_name(dim: int) -> str:
    return f"passages_embedding_{int(dim)}"


def vector_expr(dim: int, table: str = "") -> str:
    """The vectors as the `dim`-dimensional index has them: search with exactly this."""
    return f"({table}embedding::vector({int(dim)}))"


def vector_has_dim(dim: int, table: str = "") -> str:
    """The index's predicate: a query must say it (with the same literal) to use it."""
    return f"vector_dims({table}embedding) = {int(dim)}"


def pg_sql(sql: str) -> str:
    """sqlite3's `?` placeholders as psycopg's `%s` (no SQL here holds a literal `?`)."""
    return sql.replace("%", "%%").replace("?", "%s")


@contextmanager
def unavailable_as_error() -> Iterator[None]:
    """A lost or refused connection, as StoreUnavailable (short, no URL, no password); a
    statement the server cancelled for the statement (or lock) timeout, as StoreTimedOut."""
    try:
        yield
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
        raise StoreTimedOut(TIMED_OUT) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
        raise StoreUnavailable(UNAVAILABLE) from exc


class Result:
    """What a statement returned, read whole (the connection goes back to the pool)."""

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)


class PgConnection:
    """One psycopg connection (inside a transaction) with sqlite3's execute."""

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with unavailable_as_error():
            cur = self.raw.execute(pg_sql(sql), tuple(params))
            rows = cur.fetchall() if cur.description else []
            return Result(rows, cur.rowcount)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in seq]
        if not rows:
            return
        with unavailable_as_error(), self.raw.cursor() as cur:
            cur.executemany(pg_sql(sql), rows)


class Borrowing:
    """`Database.connection()` for reads: each statement borrows a pooled connection (and,
    inside a Store write, runs in a transaction of its own without the statement timeout)."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    @contextmanager
    def _borrowed(self) -> Iterator[PgConnection]:
        with unavailable_as_error(), self.db.pool.connection() as raw:
            if not self.db.is_unbounded():
                yield PgConnection(raw)
                return
            with raw.transaction():
                raw.execute(UNBOUNDED)
                yield PgConnection(raw)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self._borrowed() as conn:
            return conn.execute(sql, params)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        with self._borrowed() as conn:
            conn.executemany(sql, seq)


def _configure(conn: psycopg.Connection) -> None:
    """Each new pooled connection: pgvector's types, and filtered HNSW scans that go on
    until they have found enough rows (pgvector >= 0.8; older servers keep the setting as an
    unused placeholder)."""
    with suppress(psycopg.ProgrammingError):  # no extension yet: PgDatabase creates it
        register_vector(conn)
    conn.execute("SET hnsw.iterative_scan = relaxed_order")


class PgDatabase(Database):
    """The store's tables in one PostgreSQL database (index/postgres/schema.py)."""

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

    # -- vectors ----------------------------------------------------------------------------
    def vector_dimensions(self) -> list[int]:
        """The dimensions that have an HNSW index (normally one; two for a moment after a
        rebuild for a model of another dimension)."""
        return sorted(
            int(name.rsplit("_", 1)[1]) for (name,) in self.connection().execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
                " AND tablename = 'passages' AND indexname LIKE 'passages\\_embedding\\_%'"
            )
        )

    def ensure_dimension(self, conn: PgConnection, dim: int, hnsw_m: int) -> None:
        """The HNSW index (inner product, on unit vectors as FAISS) of `dim`-dimensional
        vectors. It is a partial index on the cast (schema.py), so the vectors of a rebuild
        for a model of another dimension are written beside the old ones, each dimension with
        its own index, and nothing is altered: CREATE INDEX takes a SHARE lock, which waits
        for other writers (there are none: one write at a time) but never blocks a reader."""
        if conn.execute("SELECT to_regclass(?)", (vector_index_name(dim),)).fetchone()[0]:
            return
        conn.execute(
            f"CREATE INDEX {vector_index_name(dim)} ON passages USING hnsw"
            f" ({vector_expr(dim)} vector_ip_ops) WITH (m = {int(hnsw_m)})"
            f" WHERE {vector_has_dim(dim)}"
        )

    def _run_unbounded(self, sql: str) -> None:
        """`sql` alone, outside any transaction and without the statement timeout (so not
        SET LOCAL), on a pooled connection whose timeout is put back afterwards."""
        with unavailable_as_error(), self.pool.connection() as raw:
            raw.execute("SET statement_timeout = 0")
            try:
                raw.execute(sql)
            finally:
                raw.execute(f"SET statement_timeout = {self.statement_timeout_ms}")

    def drop_other_dimensions(self, dim: int) -> None:
        """After a commit that left only `dim`-dimensional vectors: the other dimensions'
        indexes go, CONCURRENTLY (outside any transaction), so no reader waits for it."""
        for other in self.vector_dimensions():
            if other != dim:
                # it waits for every transaction that may use the index, however long
                self._run_unbounded(f"DROP INDEX CONCURRENTLY IF EXISTS {vector_index_name(other)}")

    def analyze(self) -> None:
        """Fresh planner statistics for every table, after a bulk load: autovacuum would
        gather them only on its next round (up to a minute), and until then the planner
        takes a freshly loaded table for an empty one. Sampling a large table takes a while:
        unbounded."""
        self._run_unbounded("ANALYZE")

    def set_vectors(self, conn: PgConnection, ids: list[int], vectors: np.ndarray) -> None:
        conn.executemany(
            "UPDATE passages SET embedding = ? WHERE id = ?",
            [(np.asarray(v, dtype=np.float32), int(i)) for i, v in zip(ids, vectors, strict=True)],
        )

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

    # -- full text --------------------------------------------------------------------------
    needs_term_stats = True

    def lexical_search(
        self, terms: list[str], limit: int, where: PassageFilter | None = None,
        stats: TermStats | None = None,
    ) -> list[tuple[int, float]]:
        """Passages holding `terms`, ranked as FTS5's BM25 ranks them, bounded so that the
        GIN index keeps the rows to score few; (passage id, score), best first.

        A passage scores the sum of the inverse passage frequency (BM25's) of the words it
        holds, a word only in its article's title half as much (FTS5's column weights).
        That is BM25 with each word counted once and no length normalisation: news passages
        are short and seldom repeat a word. `ts_rank_cd`, which ranked here before, weighs
        every word alike and read every passage holding any of them (~20,000 rows a question
        at 200,000 passages); see "The PostgreSQL lexical half, bounded" in
        benchmarks/README.md.

        Scored are the passages holding one of the rarest words (taken rarest first while
        they hold at most RARE_ROWS passages together, the rarest always), or two of the
        others: a passage holding one common word and nothing rarer would rank below
        nearly all of those. `stats` are the searcher's counts (else counted here); a word
        no passage holds is left out. `where` restricts the passages inside the query."""
        words = list(dict.fromkeys(t for term in terms for t in _FTS_TOKEN.findall(term)))
        if not words:
            return []
        stats = stats if stats is not None else self._term_stats(words)
        df = {w: stats.frequencies.get(w) for w in words}
        missing = [w for w, n in df.items() if n is None]
        if missing:
            df.update(self._term_stats(missing).frequencies)
        words = sorted((w for w in words if df[w]), key=lambda w: (df[w], w))
        if not words:
            return []
        n = max(stats.passages, max(df.values()))  # type: ignore[type-var]
        score_sql, score_params = [], []
        for w in words:
            idf = math.log(1.0 + (n - df[w] + 0.5) / (df[w] + 0.5))  # type: ignore[operator]
            score_sql.append(
                f"CASE WHEN p.tsv @@ to_tsquery('{TS_CONFIG}', ? || ':B') THEN {idf:.6f}"
                f" WHEN p.tsv @@ to_tsquery('{TS_CONFIG}', ? || ':A') THEN {idf / 2:.6f}"
                " ELSE 0 END"
            )
            score_params += [w, w]
        rare, rows = [words[0]], df[words[0]]
        for w in words[1:]:
            rows += df[w]  # type: ignore[operator]
            if rows > RARE_ROWS:  # type: ignore[operator]
                break
            rare.append(w)
        common = words[len(rare) :][:PAIRED_WORDS]
        one = f"plainto_tsquery('{TS_CONFIG}', ?)"
        match = [one] * len(rare) + [f"({one} && {one})"] * (len(common) * (len(common) - 1) // 2)
        match_params = list(rare)
        for i, a in enumerate(common):
            for b in common[i + 1 :]:
                match_params += [a, b]
        sql = (
            f"SELECT p.id, {' + '.join(score_sql)} AS score FROM passages p"
            f" WHERE p.tsv @@ ({' || '.join(match)})"
        )
        params: list[object] = [*score_params, *match_params]
        if where is not None:
            sql += f" AND {where.condition}"
            params += where.params
        found = self.connection().execute(
            sql + " ORDER BY score DESC, p.id LIMIT ?", (*params, limit)
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in found]

    def _term_stats(self, words: list[str]) -> TermStats:
        """Each word's passages counted here (up to COUNTED_ROWS), for a caller that has no
        counts of its own."""
        return TermStats(
            self.counts()[1], {w: self.match_count(w, COUNTED_ROWS) for w in words}
        )

    def match_count(self, word: str, limit: int) -> int:
        return int(self.connection().execute(
            "SELECT count(*) FROM (SELECT 1 FROM passages"
            f" WHERE tsv @@ plainto_tsquery('{TS_CONFIG}', ?) LIMIT ?) s",
            (word, limit),
        ).fetchone()[0])  # type: ignore[index]

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
