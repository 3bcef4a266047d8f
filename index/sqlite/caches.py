"""The SQLite store's caches, by passage text: the embedding cache (vectors by model) and the
entity cache (named entities by NER model), so a rebuild only computes what is new."""

from __future__ import annotations

import sqlite3

import numpy as np


class Caches:
    """The embedding and entity caches (a part of `Database`, whose connections it uses)."""

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
