"""Which store a config names: SQLite + FAISS in the data directory (the default,
index/sqlite/), or PostgreSQL + pgvector at `[store] url` (index/postgres/). Both are a
`Store` (index/store.py) with one API."""

from __future__ import annotations

from index.embedding import Embedder
from index.settings import StoreSettings
from index.sqlite.store import SqliteStore
from index.store import Store


def open_store(settings: StoreSettings, embedder: Embedder) -> Store:
    if settings.backend.backend == "postgres":
        from index.postgres.store import PgStore  # psycopg loads only when used

        return PgStore(settings, embedder)
    return SqliteStore(settings, embedder)
