"""The news store: reading articles, cutting passages, embedding, FAISS + SQLite, and search.

Nothing in this package knows about Discord or the command line.
"""
