"""The passages' vectors in PostgreSQL: the `embedding` column and its HNSW index per
dimension (a partial index on the cast, index/postgres/schema.py), so a rebuild for a model
of another dimension writes its vectors beside the old ones."""

from __future__ import annotations

import numpy as np

from index.postgres.adapter import PgConnection, unavailable_as_error


def vector_index_name(dim: int) -> str:
    return f"passages_embedding_{int(dim)}"


def vector_expr(dim: int, table: str = "") -> str:
    """The vectors as the `dim`-dimensional index has them: search with exactly this."""
    return f"({table}embedding::vector({int(dim)}))"


def vector_has_dim(dim: int, table: str = "") -> str:
    """The index's predicate: a query must say it (with the same literal) to use it."""
    return f"vector_dims({table}embedding) = {int(dim)}"


class VectorColumns:
    """The vectors and their indexes (a part of `PgDatabase`, whose pool it uses)."""

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
