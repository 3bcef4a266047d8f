"""The PostgreSQL side of the store: connections, numbered migrations and (beside them) the
backend that keeps articles, passages and pgvector vectors in one database several processes
share."""
