"""The news store: reading articles, cutting passages, embedding, storing and search.

What both backends share stays here: readers/, chunking, embedding, entities, search,
collections, stories, models (the records), errors, settings, the `Store` interface with
its shared write logic (store.py, planning.py, features.py) and the backend choice
(backends.py). The backends themselves: sqlite/ (SQLite + FAISS, the default) and
postgres/ (PostgreSQL + pgvector).

Nothing in this package knows about Discord or the command line: index/ never imports bot/.
"""
