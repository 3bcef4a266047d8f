"""The passages table of the SQLite store (with its FTS5 twin, kept in step): writing an
article's passages, reading them with their articles, and the filters a search applies."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from index.entities import loads
from index.models import Article, PassageFilter, PassageRow
from index.sqlite.articles import _ARTICLE_COLUMNS, _article


class Passages:
    """The passages (a part of `Database`, whose connections it uses)."""

    def passage_ids_of(self, conn: sqlite3.Connection, article_id: str) -> list[int]:
        return [
            r[0]
            for r in conn.execute("SELECT id FROM passages WHERE article_id = ?", (article_id,))
        ]

    def delete_passages_of(self, conn: sqlite3.Connection, article_id: str) -> list[int]:
        ids = self.passage_ids_of(conn, article_id)
        conn.executemany("DELETE FROM passages_fts WHERE rowid = ?", [(i,) for i in ids])
        conn.execute("DELETE FROM passages WHERE article_id = ?", (article_id,))
        return ids

    def delete_all_passages(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM passages_fts")
        conn.execute("DELETE FROM passages")

    def insert_passages(
        self, conn: sqlite3.Connection, article: Article, texts: list[str],
        entities: list[str | None] | None = None,
    ) -> list[int]:
        """Insert an article's passages; `entities` holds each one's stored entities (JSON)."""
        ids = []
        for position, text in enumerate(texts):
            cur = conn.execute(
                "INSERT INTO passages (article_id, position, text, entities) VALUES (?, ?, ?, ?)",
                (article.id, position, text, entities[position] if entities else None),
            )
            pid = int(cur.lastrowid or 0)
            conn.execute(
                "INSERT INTO passages_fts (rowid, title, text) VALUES (?, ?, ?)",
                (pid, article.title or "", text),
            )
            ids.append(pid)
        return ids

    def all_passage_ids(self, conn: sqlite3.Connection | None = None) -> list[int]:
        return [
            r[0] for r in (conn or self.connection()).execute("SELECT id FROM passages ORDER BY id")
        ]

    def passages(
        self, ids: Iterable[int], articles: dict[str, Article] | None = None
    ) -> dict[int, PassageRow]:
        """Passages by id with their articles, in ascending id order; ids no longer stored
        are simply absent.

        `articles`, when given, is a cache of articles by id that the caller keeps for one
        store generation: articles found there are not read again, and those read are added.
        (An article's full text is most of what these rows weigh, and one article usually
        holds several of the passages a question finds.)
        """
        ids = sorted(set(ids))
        if not ids:
            return {}
        conn = self.connection()
        rows = conn.execute(
            "SELECT id, position, text, article_id, entities FROM passages"
            f" WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id",
            ids,
        ).fetchall()
        known = articles if articles is not None else {}
        wanted = list({r[3] for r in rows if r[3] not in known})
        if wanted:
            for r in conn.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles"
                f" WHERE id IN ({','.join('?' * len(wanted))})",
                wanted,
            ):
                known[r[0]] = _article(r)
        # A passage whose article is gone (deleted between the two reads) is left out, as
        # the join would have; the caller's generation check then searches again.
        return {
            pid: PassageRow(pid, position, text, known[aid], loads(ents))
            for pid, position, text, aid, ents in rows
            if aid in known
        }

    def neighbours(self, article_id: str, position: int, span: int = 1) -> list[str]:
        """Texts of passages around `position` in one article, in order."""
        rows = self.connection().execute(
            "SELECT text FROM passages WHERE article_id = ? AND position BETWEEN ? AND ?"
            " ORDER BY position",
            (article_id, position - span, position + span),
        ).fetchall()
        return [r[0] for r in rows]

    def passage_filter(
        self,
        collections: Sequence[str] | None = None,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> PassageFilter | None:
        """The passages a search may return, as SQL (a subquery of passage ids) that both the
        FAISS id selector and the FTS5 query apply *inside* their search; None: all pass."""
        clauses, params = [], []
        if collections is not None:
            marks = ",".join("?" * len(collections))
            clauses.append(
                "p.article_id IN (SELECT article_id FROM article_collections"
                f" WHERE collection IN ({marks}))"
            )
            params += list(collections)
        if source or since or until:
            article_clauses = []
            if source:
                article_clauses.append("(lower(a.source) = lower(?) OR a.url LIKE ?)")
                params += [source, f"%{source.lower()}%"]
            if since:
                article_clauses.append("a.published >= ?")
                params.append(since)
            if until:
                article_clauses.append("substr(a.published, 1, ?) <= ?")
                params += [len(until), until]
            clauses.append(
                "p.article_id IN (SELECT a.id FROM articles a WHERE "
                + " AND ".join(article_clauses) + ")"
            )
        if not clauses:
            return None
        condition = " AND ".join(clauses)
        return PassageFilter(
            "SELECT p.id FROM passages p WHERE " + condition, tuple(params), condition
        )

    def passage_ids(self, where: PassageFilter) -> list[int]:
        return [r[0] for r in self.connection().execute(where.sql, where.params)]

    def filtered_passage_ids(
        self,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        collections: Sequence[str] | None = None,
    ) -> list[int] | None:
        """Ids of the passages that pass the filters (None: no filter, every passage)."""
        where = self.passage_filter(collections, source, since, until)
        if where is None:
            return None
        return [r[0] for r in self.connection().execute(where.sql, where.params)]
