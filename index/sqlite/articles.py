"""The articles table of the SQLite store: reading articles by id, URL, text or date, and
writing them (their passages go with them, index/sqlite/passages.py)."""

from __future__ import annotations

import sqlite3

from index.models import Article

_ARTICLE_COLUMNS = (
    "id, title, url, source, published, author, text, content_hash, added_at, updated_at, origin"
)


def _article(row: sqlite3.Row | tuple) -> Article:
    return Article(*row)


class Articles:
    """The articles (a part of `Database`, whose connections it uses)."""

    def article_by_id(self, article_id: str) -> Article | None:
        row = self.connection().execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return _article(row) if row else None

    def article_by_url(self, url: str, collection: str | None = None) -> Article | None:
        """The article stored under `url` that `collection` holds (None: the first stored
        under it, whoever holds it; several collections may each have their own)."""
        return self._article_where("a.url = ?", url, collection)

    def article_by_hash(self, digest: str, collection: str | None = None) -> Article | None:
        """An article with this text (content hash) that `collection` holds (None: any)."""
        return self._article_where("a.content_hash = ?", digest, collection)

    def _article_where(
        self, condition: str, value: str, collection: str | None
    ) -> Article | None:
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        sql, params = f"SELECT {cols} FROM articles a WHERE {condition}", [value]
        if collection is not None:
            # EXISTS: one lookup, not the whole collection listed (see story_articles)
            sql += (" AND EXISTS (SELECT 1 FROM article_collections ac"
                    " WHERE ac.article_id = a.id AND ac.collection = ?)")
            params.append(collection)
        row = self.connection().execute(
            sql + " ORDER BY a.added_at, a.id LIMIT 1", params
        ).fetchone()
        return _article(row) if row else None

    def articles_with_text(self, digest: str, url: str | None) -> list[Article]:
        """Every article stored with this text (content hash) under `url` (None: none)."""
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        sql = f"SELECT {cols} FROM articles a WHERE a.content_hash = ?"
        if url is None:
            rows = self.connection().execute(sql + " AND a.url IS NULL", (digest,))
        else:
            rows = self.connection().execute(sql + " AND a.url = ?", (digest, url))
        return [_article(r) for r in rows.fetchall()]

    def all_articles(self) -> list[Article]:
        rows = self.connection().execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles ORDER BY added_at, id"
        ).fetchall()
        return [_article(r) for r in rows]

    def articles_dated_before(self, day: str) -> list[Article]:
        """Articles whose date (published, else when added) is before `day` (YYYY-MM-DD)."""
        rows = self.connection().execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles"
            " WHERE substr(COALESCE(published, added_at), 1, 10) < ? ORDER BY id", (day,)
        ).fetchall()
        return [_article(r) for r in rows]

    def articles_beyond_newest(self, collection: str, keep: int) -> list[Article]:
        """Every article of `collection` but its `keep` newest (by date published, else
        added)."""
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        rows = self.connection().execute(
            f"SELECT {cols} FROM articles a JOIN article_collections ac ON ac.article_id = a.id"
            " WHERE ac.collection = ? ORDER BY COALESCE(a.published, a.added_at) DESC,"
            " a.added_at DESC, a.id LIMIT -1 OFFSET ?",
            (collection, keep),
        ).fetchall()
        return [_article(r) for r in rows]

    def upsert_article(self, conn: sqlite3.Connection, article: Article) -> None:
        conn.execute(
            f"INSERT INTO articles ({_ARTICLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET title = excluded.title, url = excluded.url,"
            " source = excluded.source, published = excluded.published,"
            " author = excluded.author, text = excluded.text,"
            " content_hash = excluded.content_hash, updated_at = excluded.updated_at,"
            " origin = excluded.origin",
            (
                article.id, article.title, article.url, article.source, article.published,
                article.author, article.text, article.content_hash, article.added_at,
                article.updated_at, article.origin,
            ),
        )

    def delete_article(self, conn: sqlite3.Connection, article_id: str) -> list[int]:
        ids = self.delete_passages_of(conn, article_id)
        conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        return ids

    def counts(self) -> tuple[int, int]:
        conn = self.connection()
        articles = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        passages = conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
        return articles, passages
