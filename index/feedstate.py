"""Followed feeds, as the store's database keeps them (SQLite or PostgreSQL: the SQL here is
written for both): which collections follow which feed, each
feed's schedule and HTTP validators, how its last fetches went, and the entries already read.

One row per feed URL however many collections follow it, so a feed is fetched once per
interval (the shortest its followers asked for). Nothing here fetches or parses: the poller
(bot/feeds/following.py) does, and records each outcome here. Times are Unix seconds (next_due) and
ISO 8601 UTC strings (what people read).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from index.sqlite.database import Database

_COLUMNS = (
    "url, interval_s, next_due, etag, last_modified, last_fetch_at, last_new_at, last_error,"
    " last_error_at, failures, added_at"
)
# FeedRow's columns: the above, and what the feed's entries not stored yet come to.
_ROW_COLUMNS = (
    _COLUMNS.replace("url,", "f.url,", 1) + ", waiting,"
    " (SELECT COUNT(*) FROM feed_entry_failures e WHERE e.url = f.url)"
)


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class FeedRow:
    """One followed feed and how its fetches went."""

    url: str
    interval_s: int
    next_due: float
    etag: str | None
    last_modified: str | None
    last_fetch_at: str | None  # the last fetch that reached the feed (304 included)
    last_new_at: str | None  # the last fetch that brought a new article
    last_error: str | None
    last_error_at: str | None
    failures: int  # fetches failed in a row; 0 after a success
    added_at: str
    waiting: int = 0  # entries the last poll left for later (over follow.max_entries_per_poll)
    failing_entries: int = 0  # entries whose article failed, retried with back-off
    followers: dict[str, int] = field(default_factory=dict)  # collection -> its interval

    def failing(self, after: int) -> bool:
        return self.failures >= after


@dataclass(frozen=True)
class EntryFailure:
    """An entry of a feed that did not become an article, and when it is tried again."""

    failures: int  # in a row
    next_try: float  # Unix seconds
    last_error: str


@dataclass
class Backlog:
    """What one read of a feed leaves unstored: every entry key the feed lists now, how many
    entries were left for later polls, and the entries that failed this time."""

    listed: set[str]
    waiting: int = 0
    failed: dict[str, EntryFailure] = field(default_factory=dict)


class FeedBook:
    """The followed-feed tables of one store database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- following --------------------------------------------------------------------------
    def follow(self, url: str, collection: str, interval_s: int, now: float) -> FeedRow:
        """`collection` follows `url` every `interval_s`; a new feed is due at once."""
        stamp = iso(now)
        with self.db.transaction() as tx:
            tx.execute(
                f"INSERT INTO feeds ({_COLUMNS}) VALUES (?, ?, ?, NULL, NULL, NULL, NULL, NULL,"
                " NULL, 0, ?) ON CONFLICT (url) DO NOTHING",
                (url, interval_s, now, stamp),
            )
            tx.execute(
                "INSERT INTO feed_followers (url, collection, interval_s, added_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (url, collection)"
                " DO UPDATE SET interval_s = excluded.interval_s",
                (url, collection, interval_s, stamp),
            )
            self._set_interval(tx, url)
        row = self.get(url)
        assert row is not None
        return row

    def unfollow(self, url: str, collection: str) -> bool:
        """Whether `collection` followed `url`; a feed nobody follows any more is forgotten
        (its read entries too: following it again reads what it holds then)."""
        with self.db.transaction() as tx:
            gone = tx.execute(
                "DELETE FROM feed_followers WHERE url = ? AND collection = ?", (url, collection)
            ).rowcount
            left = tx.execute(
                "SELECT COUNT(*) FROM feed_followers WHERE url = ?", (url,)
            ).fetchone()[0]
            if not left:
                tx.execute("DELETE FROM feed_entries WHERE url = ?", (url,))
                tx.execute("DELETE FROM feed_entry_failures WHERE url = ?", (url,))
                tx.execute("DELETE FROM feeds WHERE url = ?", (url,))
            elif gone:
                self._set_interval(tx, url)
        return bool(gone)

    def _set_interval(self, tx: sqlite3.Connection, url: str) -> None:
        # Fetched as often as its most eager follower asked, and not more.
        tx.execute(
            "UPDATE feeds SET interval_s = (SELECT MIN(interval_s) FROM feed_followers"
            " WHERE url = ?) WHERE url = ?",
            (url, url),
        )

    # -- reading ----------------------------------------------------------------------------
    def get(self, url: str) -> FeedRow | None:
        rows = self._rows("WHERE f.url = ?", (url,))
        return rows[0] if rows else None

    def feeds(self, collection: str | None = None) -> list[FeedRow]:
        """Every followed feed (or those `collection` follows), by URL."""
        if collection is None:
            return self._rows("ORDER BY f.url", ())
        return self._rows(
            "WHERE f.url IN (SELECT url FROM feed_followers WHERE collection = ?) ORDER BY f.url",
            (collection,),
        )

    def _rows(self, where: str, params: tuple) -> list[FeedRow]:  # `where` names feeds `f`
        conn = self.db.connection()
        rows = conn.execute(f"SELECT {_ROW_COLUMNS} FROM feeds f {where}", params).fetchall()
        out = []
        for row in rows:
            followers = dict(conn.execute(
                "SELECT collection, interval_s FROM feed_followers WHERE url = ?"
                " ORDER BY collection", (row[0],)
            ).fetchall())
            out.append(FeedRow(*row, followers=followers))
        return out

    def counts(self, collection: str, failing_after: int) -> tuple[int, int]:
        """(feeds `collection` follows, how many of them are failing)."""
        row = self.db.connection().execute(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN f.failures >= ? THEN 1 ELSE 0 END), 0)"
            " FROM feeds f"
            " JOIN feed_followers ff ON ff.url = f.url WHERE ff.collection = ?",
            (failing_after, collection),
        ).fetchone()
        return int(row[0]), int(row[1])

    def seen(self, url: str) -> set[str]:
        return {r[0] for r in self.db.connection().execute(
            "SELECT entry FROM feed_entries WHERE url = ?", (url,)
        )}

    def entry_failures(self, url: str) -> dict[str, EntryFailure]:
        """The feed's entries that failed and are not stored yet, by entry key."""
        return {r[0]: EntryFailure(int(r[1]), float(r[2]), r[3]) for r in
                self.db.connection().execute(
                    "SELECT entry, failures, next_try, last_error FROM feed_entry_failures"
                    " WHERE url = ?", (url,))}

    def next_retry(self, url: str) -> float | None:
        """When the feed's earliest failed entry may be tried again (None: none failed)."""
        row = self.db.connection().execute(
            "SELECT MIN(next_try) FROM feed_entry_failures WHERE url = ?", (url,)
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def entry_articles(self, url: str) -> list[str]:
        """Ids of the articles the feed's entries became (for a collection that joins later)."""
        return [r[0] for r in self.db.connection().execute(
            # GROUP BY, not DISTINCT: PostgreSQL orders DISTINCT rows only by what they select.
            "SELECT article_id FROM feed_entries WHERE url = ? AND article_id IS NOT NULL"
            " GROUP BY article_id ORDER BY MIN(seen_at), article_id", (url,)
        )]

    # -- scheduling -------------------------------------------------------------------------
    def claim_due(self, now: float, limit: int, lease_s: float,
                  urls: Iterable[str] | None = None) -> list[FeedRow]:
        """Up to `limit` feeds due by `now` (or exactly `urls`, due or not), earliest first,
        each moved `lease_s` into the future in the same transaction: another process polling
        the same store (`newsbot follow` from cron beside `newsbot run`) skips them meanwhile.
        The outcome of the poll sets the real next time."""
        with self.db.transaction() as tx:
            if urls is None:
                picked = [r[0] for r in tx.execute(
                    "SELECT url FROM feeds WHERE next_due <= ? ORDER BY next_due, url LIMIT ?",
                    (now, limit),
                )]
            else:
                wanted = list(dict.fromkeys(urls))
                picked = [u for u in wanted if tx.execute(
                    "SELECT 1 FROM feeds WHERE url = ?", (u,)).fetchone()][:limit]
            tx.executemany(
                "UPDATE feeds SET next_due = ? WHERE url = ?", [(now + lease_s, u) for u in picked]
            )
        rows = {row.url: row for row in (self.get(u) for u in picked) if row is not None}
        return [rows[u] for u in picked if u in rows]

    def next_due(self) -> float | None:
        row = self.db.connection().execute("SELECT MIN(next_due) FROM feeds").fetchone()
        return row[0]

    # -- outcomes ---------------------------------------------------------------------------
    def record_fetched(
        self, url: str, *, now: float, next_due: float, etag: str | None,
        last_modified: str | None, new_articles: bool,
        entries: Iterable[tuple[str, str | None]] = (),
        backlog: Backlog | None = None,
    ) -> None:
        """A fetch that reached the feed (200 or 304): validators kept, failures cleared, the
        entries that became stored articles remembered (entry key, article id) so they are
        never read again; with `backlog` (a read feed), its entries not stored yet."""
        stamp = iso(now)
        entries = list(entries)
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE feeds SET next_due = ?, etag = ?, last_modified = ?, last_fetch_at = ?,"
                " last_new_at = CASE WHEN ? THEN ? ELSE last_new_at END, failures = 0"
                " WHERE url = ?",
                (next_due, etag, last_modified, stamp, new_articles, stamp, url),
            )
            tx.executemany(
                "INSERT INTO feed_entries (url, entry, article_id, seen_at)"
                " SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM feeds WHERE url = ?)"
                " ON CONFLICT DO NOTHING",
                [(url, key, article_id, stamp, url) for key, article_id in entries],
            )
            if backlog is not None:
                self._record_backlog(tx, url, backlog, stored={key for key, _ in entries})

    def _record_backlog(self, tx: sqlite3.Connection, url: str, backlog: Backlog,
                        stored: set[str]) -> None:
        tx.execute("UPDATE feeds SET waiting = ? WHERE url = ?", (backlog.waiting, url))
        tx.executemany(
            "INSERT INTO feed_entry_failures (url, entry, failures, next_try, last_error)"
            " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM feeds WHERE url = ?)"
            " ON CONFLICT (url, entry) DO UPDATE SET failures = excluded.failures,"
            " next_try = excluded.next_try, last_error = excluded.last_error",
            [(url, key, f.failures, f.next_try, f.last_error, url)
             for key, f in backlog.failed.items()],
        )
        # Forgotten: an entry stored at last, and one the feed no longer lists.
        known = [r[0] for r in tx.execute(
            "SELECT entry FROM feed_entry_failures WHERE url = ?", (url,))]
        gone = [key for key in known if key in stored or key not in backlog.listed]
        tx.executemany(
            "DELETE FROM feed_entry_failures WHERE url = ? AND entry = ?",
            [(url, key) for key in gone],
        )

    def record_failure(self, url: str, *, now: float, next_due: float, error: str) -> int:
        """A fetch that failed; returns the failures in a row, this one included."""
        with self.db.transaction() as tx:
            tx.execute(
                "UPDATE feeds SET next_due = ?, last_error = ?, last_error_at = ?,"
                " failures = failures + 1 WHERE url = ?",
                (next_due, error, iso(now), url),
            )
            row = tx.execute("SELECT failures FROM feeds WHERE url = ?", (url,)).fetchone()
        return int(row[0]) if row else 0
