"""The default store backend: SQLite and FAISS in one data directory.

Owns the SQLite database (database.py: connections, transactions, metadata; schema.py: its
numbered migrations; one module per part of the repository: articles, memberships,
passages, lexical (FTS5), story_rows, caches), the FAISS vector files (vectors.py) and the
`SqliteStore` (store.py) that keeps them in agreement.

May import the shared modules of index/ (models, errors, settings, entities, store, ...);
never index/postgres/ nor bot/. The PostgreSQL backend builds on this repository's SQL
(index/postgres/database.py), not the other way round.
"""
