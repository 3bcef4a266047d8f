"""The store on PostgreSQL + pgvector: index/store.py's Store with its vectors in the database.

Everything a write does (articles, passages with their full text and vectors, collections,
stories, caches, metadata and the generation) is one PostgreSQL transaction, so a process
killed mid-write leaves nothing of it, and readers keep seeing the last committed store
until it commits: a rebuild writes every new passage and vector beside the old ones (MVCC
keeps the old rows visible to every other connection) and the commit swaps them in at once.
One writer at a time across processes: a session advisory lock held for the whole write
(plan, embed, commit), released by the server when a writer dies.

Dense search is an HNSW query (inner product on unit vectors, as FAISS scores) with the
search's filters in its WHERE clause; pgvector's iterative scan keeps walking the graph until
enough rows pass them, so a small collection in a big store still gets its candidates.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from index.database import PassageFilter
from index.postgres.database import PgConnection, PgDatabase
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
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        condition, params = "", ()
        if where is not None:
            condition, params = f" AND {where.condition}", where.params
        ef = max(self.settings.hnsw_ef_search, k)
        with self.db.transaction_for_reads() as tx:
            tx.execute("SELECT set_config('hnsw.ef_search', ?, true)", (str(min(ef, 1000)),))
            rows = tx.execute(
                "SELECT id, score FROM (SELECT p.id, -(p.embedding <#> ?) AS score"
                f" FROM passages p WHERE p.embedding IS NOT NULL{condition}"
                " ORDER BY p.embedding <#> ? LIMIT ?) s ORDER BY score DESC, id",
                (q, *params, q, k),
            ).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def similarity(self, query: np.ndarray, pid: int) -> float:
        """Inner product of the question and one passage (0: not stored)."""
        row = self.db.connection().execute(
            "SELECT -(embedding <#> ?) FROM passages WHERE id = ?",
            (np.asarray(query, dtype=np.float32).reshape(-1), int(pid)),
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else 0.0


class PgStore(Store):
    """Store on PostgreSQL: same API, same behaviour, several processes may share it."""

    filters_in_query = True
    db: PgDatabase

    def _open_database(self) -> PgDatabase:  # type: ignore[override]
        backend = self.settings.backend
        return PgDatabase(backend.url, backend.pool_size)

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
        with self._write_lock, self.db.write_lock():
            yield

    def _prepare_vectors(self, tx: PgConnection, whole: bool) -> None:  # type: ignore[override]
        # A new store (or a whole rebuild, maybe for a new model) sets the column's dimension.
        if whole or self.db.vector_dimension() is None:
            self.db.ensure_dimension(tx, self.embedder.dimension, self.settings.index.hnsw_m)

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

    # -- facts ------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.db.path  # the URL without its password

    def size_on_disk(self) -> int:
        return self.db.size_bytes()
