"""Which collections hold which articles in the SQLite store (index/collections.py names
them), what each holds, and the record of what each add brought (`ingests`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from index.models import Article, CollectionCounts, Ingest, now_iso
from index.sqlite.articles import _ARTICLE_COLUMNS, _article


def _storable(text: str) -> str:
    """`text` as SQLite can store it: a file name's undecodable bytes (surrogates) and line
    breaks are written out."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\n", " ").replace("\r", " ")[:500]



class Memberships:
    """Collections and their ingests (a part of `Database`, whose connections it uses)."""

    def members_version(self) -> int:
        """A number that changes with every membership change (which need not write vectors,
        so the generation may stay): what searches cache about collections is keyed by it."""
        return int(self.get_meta("members_version") or 0)

    def _bump_members(self, conn: sqlite3.Connection) -> None:
        self.set_meta(
            conn, "members_version", str(int(self.get_meta("members_version", conn) or 0) + 1)
        )

    def covers_every_article(self, collections: Sequence[str]) -> bool:
        """Whether every stored article is in one of `collections` (then filtering by them
        changes nothing, as in a store whose articles are all shared)."""
        marks = ",".join("?" * len(collections))
        return not self.connection().execute(
            "SELECT 1 FROM articles a WHERE NOT EXISTS (SELECT 1 FROM article_collections ac"
            f" WHERE ac.article_id = a.id AND ac.collection IN ({marks})) LIMIT 1",
            list(collections),
        ).fetchone()

    def add_members(self, conn: sqlite3.Connection, collection: str, ids: Iterable[str]) -> None:
        self._bump_members(conn)
        stamp = now_iso()
        conn.executemany(
            "INSERT OR IGNORE INTO article_collections (collection, article_id, added_at)"
            " VALUES (?, ?, ?)",
            [(collection, i, stamp) for i in dict.fromkeys(ids)],
        )

    def remove_members(
        self, conn: sqlite3.Connection, collection: str, ids: Iterable[str]
    ) -> list[str]:
        """Take `ids` out of `collection`; returns those no collection holds any more."""
        ids = list(dict.fromkeys(ids))
        self._bump_members(conn)
        conn.executemany(
            "DELETE FROM article_collections WHERE collection = ? AND article_id = ?",
            [(collection, i) for i in ids],
        )
        return [
            i for i in ids
            if conn.execute(
                "SELECT 1 FROM article_collections WHERE article_id = ? LIMIT 1", (i,)
            ).fetchone() is None
        ]

    def collections_of(self, article_id: str, conn: sqlite3.Connection | None = None) -> set[str]:
        return {
            r[0] for r in (conn or self.connection()).execute(
                "SELECT collection FROM article_collections WHERE article_id = ?", (article_id,)
            )
        }

    def in_collection(self, article_id: str, collection: str) -> bool:
        return self.connection().execute(
            "SELECT 1 FROM article_collections WHERE collection = ? AND article_id = ?",
            (collection, article_id),
        ).fetchone() is not None

    def collection_names(self) -> list[str]:
        """Collections holding at least one article or with an ingest on record."""
        rows = self.connection().execute(
            "SELECT collection FROM article_collections"
            " UNION SELECT collection FROM ingests ORDER BY 1"
        ).fetchall()
        return [r[0] for r in rows]

    def articles_in(self, collection: str) -> list[Article]:
        cols = ", ".join(f"a.{c.strip()}" for c in _ARTICLE_COLUMNS.split(","))
        rows = self.connection().execute(
            f"SELECT {cols} FROM articles a JOIN article_collections ac ON ac.article_id = a.id"
            " WHERE ac.collection = ? ORDER BY a.added_at, a.id",
            (collection,),
        ).fetchall()
        return [_article(r) for r in rows]

    def collection_counts(self, collection: str) -> CollectionCounts:
        """Articles, passages and bytes of text that `collection` holds (an article shared
        with other collections counts in each)."""
        row = self.connection().execute(
            "SELECT COUNT(*), COALESCE(SUM(length(CAST(a.text AS BLOB))), 0),"
            " COALESCE(SUM((SELECT COUNT(*) FROM passages p WHERE p.article_id = a.id)), 0),"
            " COALESCE(SUM((SELECT SUM(length(CAST(p.text AS BLOB))) FROM passages p"
            "   WHERE p.article_id = a.id)), 0),"
            " COALESCE(SUM((SELECT COUNT(*) FROM article_collections o"
            "   WHERE o.article_id = a.id AND o.collection != ac.collection) = 0), 0)"
            " FROM article_collections ac JOIN articles a ON a.id = ac.article_id"
            " WHERE ac.collection = ?",
            (collection,),
        ).fetchone()
        return CollectionCounts(
            articles=int(row[0]), text_bytes=int(row[1]) + int(row[3]), passages=int(row[2]),
            only_here=int(row[4]),
        )

    def record_ingest(
        self, collection: str, what: str, added: int, updated: int, unchanged: int,
        skipped: list[str],
    ) -> None:
        reasons = [_storable(r) for r in skipped[:20]]  # the first few are enough to act on
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO ingests (collection, at, what, added, updated, unchanged, skipped,"
                " skipped_reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (collection, now_iso(), _storable(what), added, updated, unchanged,
                 len(skipped), "\n".join(reasons)),
            )

    def last_ingest(self, collection: str) -> Ingest | None:
        row = self.connection().execute(
            "SELECT at, what, added, updated, unchanged, skipped, skipped_reasons FROM ingests"
            " WHERE collection = ? ORDER BY id DESC LIMIT 1",
            (collection,),
        ).fetchone()
        if row is None:
            return None
        return Ingest(
            at=row[0], what=row[1], added=row[2], updated=row[3], unchanged=row[4],
            skipped=row[5], skipped_reasons=[r for r in row[6].split("\n") if r],
        )
