"""The store on PostgreSQL + pgvector: index/store.py's Store with its vectors in the database.

Everything a write does (articles, passages with their full text and vectors, collections,
stories, caches, metadata and the generation) is one PostgreSQL transaction, so a process
killed mid-write leaves nothing of it, and readers keep seeing the last committed store
until it commits: a rebuild writes every new passage and vector beside the old ones (MVCC
keeps the old rows visible to every other connection) and the commit swaps them in at once;
for a model of another dimension the new vectors get an HNSW index of their own beside the
old one (a partial index per dimension, vectors.py), so nothing is altered and no reader
waits; the old index is dropped concurrently after the commit.
One writer at a time across processes: a session advisory lock held for the whole write
(plan, embed, commit), released by the server when a writer dies.

Dense search is an HNSW query (inner product on unit vectors, as FAISS scores) with the
search's filters in its WHERE clause; pgvector's iterative scan keeps walking the graph until
enough rows pass them, so a small collection in a big store still gets its candidates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np

from index.models import PassageFilter
from index.postgres.adapter import PgConnection
from index.postgres.database import PgDatabase
from index.postgres.vectors import vector_expr, vector_has_dim
from index.settings import IndexSettings
from index.store import Store


class PgVectors:
    """The vectors of the committed store, searched in the database (what VectorIndex is
    to the SQLite store)."""

    kind = "hnsw"
    filters_in_query = True

    def __init__(self, db: PgDatabase, settings: IndexSettings, dimension: int) -> None:
        self.db = db
        self.settings = settings
        self._dimension = dimension

    @property
    def size(self) -> int:
        return self.db.counts()[1]

    @property
    def dimension(self) -> int:
        return self._dimension

    def ids(self) -> np.ndarray:
        return np.asarray([r[0] for r in self.db.connection().execute(
            "SELECT id FROM passages WHERE embedding IS NOT NULL ORDER BY id"
        )], dtype=np.int64)

    def search(
        self, query: np.ndarray, k: int, allowed: list[int] | None = None,
        where: PassageFilter | None = None,
    ) -> list[tuple[int, float]]:
        """The `k` passages nearest `query` among those `where` lets through (`allowed` is
        the SQLite store's form of the same filter, not used here)."""
        if k <= 0:
            return []
        ef = max(self.settings.hnsw_ef_search, k)
        with self.db.transaction_for_reads() as tx:
            tx.execute("SELECT set_config('hnsw.ef_search', ?, true)", (str(min(ef, 1000)),))
            rows = tx.execute(*self.query(query, k, where)).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def query(
        self, query: np.ndarray, k: int, where: PassageFilter | None = None
    ) -> tuple[str, tuple]:
        """The SQL of `search` and its parameters."""
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        condition, params = "", ()
        if where is not None:
            condition, params = f" AND {where.condition}", where.params
        # The cast and the dimension test are the partial index's own (vectors.py), so the
        # HNSW index of this dimension serves the ORDER BY.
        vec = vector_expr(self._dimension, "p.")
        return (
            f"SELECT id, score FROM (SELECT p.id, -({vec} <#> ?) AS score"
            f" FROM passages p WHERE {vector_has_dim(self._dimension, 'p.')}{condition}"
            f" ORDER BY {vec} <#> ? LIMIT ?) s ORDER BY score DESC, id",
            (q, *params, q, k),
        )

    def similarities(self, query: np.ndarray, pids: Iterable[int]) -> dict[int, float]:
        """Inner product of the question and each of `pids` (0: not stored), in one round
        trip."""
        ids = [int(pid) for pid in pids]
        if not ids:
            return {}
        found = dict(self.db.connection().execute(
            "SELECT id, -(embedding <#> ?) FROM passages WHERE id = ANY(?)",
            (np.asarray(query, dtype=np.float32).reshape(-1), ids),
        ).fetchall())
        return {pid: float(found[pid]) if found.get(pid) is not None else 0.0 for pid in ids}


class PgStore(Store):
    """Store on PostgreSQL: same API, same behaviour, several processes may share it."""

    filters_in_query = True
    db: PgDatabase
    _retire_other_dimensions = False  # set by each commit: whether it rewrote every vector

    def _open_database(self) -> PgDatabase:  # type: ignore[override]
        backend = self.settings.backend
        return PgDatabase(
            backend.url, backend.pool_size, statement_timeout_s=backend.statement_timeout_s
        )

    # -- reading ----------------------------------------------------------------------------
    def vector_index(self) -> PgVectors:  # type: ignore[override]
        """The vectors (in the database), once the store is known to match the model."""
        generation = self.db.generation()
        index = self._index
        if index is not None and generation == self._loaded_generation:
            return index  # type: ignore[return-value]
        self.check_model()
        index = PgVectors(self.db, self.settings.index, self.embedder.dimension)
        with self._load_lock:
            self._index, self._loaded_generation = index, generation  # type: ignore[assignment]
        return index

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[None]:
        # every statement of a write, its reads too, without the statement timeout (a rebuild
        # reads the whole store and may wait for the writer before it)
        with self._write_lock, self.db.unbounded(), self.db.write_lock():
            yield

    def _prepare_vectors(self, tx: PgConnection, whole: bool) -> None:  # type: ignore[override]
        # The index of this model's dimension (made by a new store, or by a whole rebuild for
        # a model of another dimension, whose vectors go beside the old ones until commit).
        self.db.ensure_dimension(tx, self.embedder.dimension, self.settings.index.hnsw_m)
        self._retire_other_dimensions = whole

    def _next_vectors(  # type: ignore[override]
        self, tx: PgConnection, removed: list[int], new_ids: list[int], new_vecs: np.ndarray,
        base: object, remove_all: bool,
    ) -> PgVectors:
        # Removed passages took their vectors with them; the new ones join their rows.
        self.db.set_vectors(tx, new_ids, new_vecs)
        return PgVectors(self.db, self.settings.index, self.embedder.dimension)

    def _save_vectors(self, index: object, generation: int) -> None:  # type: ignore[override]
        pass  # written with the rows

    def _installed(self, index: object, generation: int) -> None:  # type: ignore[override]
        with self._load_lock:
            self._index, self._loaded_generation = index, generation  # type: ignore[assignment]
        if self._retire_other_dimensions:  # every vector is now of this dimension
            self.db.drop_other_dimensions(self.embedder.dimension)

    # -- facts ------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.db.path  # the URL without its password

    def size_on_disk(self) -> int:
        return self.db.size_bytes()
