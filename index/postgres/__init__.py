"""The PostgreSQL side of the store: connections, numbered migrations and (beside them) the
backend that keeps articles, passages and pgvector vectors in one database several processes
share.

Owns the connection pool and conninfo handling (connection.py, conninfo.py), sqlite3's small
API on psycopg (adapter.py), the schema (schema.py), `PgDatabase` (database.py) with its
vectors (vectors.py) and full-text search (lexical.py), the passages' secondary indexes
(passage_indexes.py) and `PgStore` (store.py).

May import the shared modules of index/ and index/sqlite/'s repository (whose SQL
`PgDatabase` runs through the adapter); never bot/.
"""
