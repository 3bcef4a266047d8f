"""The story groups' rows in the SQLite store (index/stories.py groups the copies of a story;
this keeps and reads the groups)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from index.models import Article, StoryCopy
from index.sqlite.articles import _ARTICLE_COLUMNS, _article


class StoryRows:
    """Story groups (a part of `Database`, whose connections it uses)."""

    def story_rows(self, conn: sqlite3.Connection) -> list[tuple[str, str, int, bytes]]:
        """(article id, story id, shingle count, MinHash signature) of every grouped article."""
        return conn.execute(
            "SELECT article_id, story_id, shingles, signature FROM story_members"
        ).fetchall()

    def ungrouped_articles(self, conn: sqlite3.Connection) -> list[Article]:
        """Articles with no story yet (stored before story groups existed)."""
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        rows = conn.execute(
            f"SELECT {cols} FROM articles a LEFT JOIN story_members s ON s.article_id = a.id"
            " WHERE s.article_id IS NULL"
        ).fetchall()
        return [_article(r) for r in rows]

    def set_story(
        self, conn: sqlite3.Connection, article_id: str, story_id: str, shingles: int,
        signature: bytes,
    ) -> None:
        conn.execute(
            "INSERT INTO story_members (article_id, story_id, shingles, signature)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (article_id) DO UPDATE SET"
            " story_id = excluded.story_id, shingles = excluded.shingles,"
            " signature = excluded.signature",
            (article_id, story_id, shingles, signature),
        )

    def merge_stories(self, conn: sqlite3.Connection, old: Iterable[str], new: str) -> None:
        conn.executemany(
            "UPDATE story_members SET story_id = ? WHERE story_id = ?", [(new, o) for o in old]
        )

    def delete_all_stories(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM story_members")

    def stories_of(self, article_ids: Iterable[str]) -> dict[str, str]:
        """article id -> story id, for those of `article_ids` that are grouped."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        rows = self.connection().execute(
            "SELECT article_id, story_id FROM story_members"
            f" WHERE article_id IN ({','.join('?' * len(ids))})",
            ids,
        ).fetchall()
        return dict(rows)

    def story_articles(
        self, story_ids: Iterable[str], collections: Sequence[str] | None = None
    ) -> dict[str, list[StoryCopy]]:
        """story id -> its articles (without their text), oldest first; only those in one of
        `collections` when given (None: every article)."""
        ids = list(dict.fromkeys(story_ids))
        if not ids:
            return {}
        sql = (
            "SELECT s.story_id, a.id, a.title, a.url, a.source, a.published"
            " FROM story_members s JOIN articles a ON a.id = s.article_id"
            f" WHERE s.story_id IN ({','.join('?' * len(ids))})"
        )
        params: list[str] = list(ids)
        if collections is not None:
            # EXISTS looks each article up; "a.id IN (SELECT ...)" would list the whole
            # collection on every call (0.39 against 0.03 ms at 2,300 articles).
            sql += (
                " AND EXISTS (SELECT 1 FROM article_collections ac WHERE ac.article_id = a.id"
                f" AND ac.collection IN ({','.join('?' * len(collections))}))"
            )
            params += list(collections)
        out: dict[str, list[StoryCopy]] = {}
        for sid, aid, title, url, source, published in self.connection().execute(
            sql + " ORDER BY s.story_id, a.published NULLS FIRST, a.id", params
        ):
            out.setdefault(sid, []).append(StoryCopy(aid, title, url, source, published))
        return out
