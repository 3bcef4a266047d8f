"""One story, many copies: an answer cites one copy of a story and names the others.

The store groups copies of one story at index time (index/stories.py). Here the passages an
answer shows keep one copy per story (the best-placed one), and each citation lists the other
copies the store holds as "also reported by" (publisher, date, link).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, timedelta
from urllib.parse import urlsplit

from bot.reader.answer import Citation, ReportedBy
from index.models import PassageRow, StoryCopy
from index.search import Hit
from index.sqlite.database import Database
from index.stories import shingles

FUTURE_SLACK_DAYS = 2  # as ranking.recency: a copy dated a day or two late still counts
SAME_PASSAGE = 0.5  # share of the shorter passage's shingles two versions' passages share


def _day(published: str | None) -> date | None:
    try:
        return date.fromisoformat(published.strip()[:10]) if published else None
    except ValueError:
        return None


def publisher(source: str | None, url: str | None) -> str | None:
    """Who published an article: its source, else its URL's host without "www."."""
    if source and source.strip():
        return " ".join(source.split())
    if url:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
        host = host.removeprefix("www.")
        if host:
            return host
    return None


class Stories:
    """The story of each article an answer uses, read once per answer. Only copies in
    `collections` (None: all) are ever named or read: a server never sees another's."""

    def __init__(
        self, db: Database, article_ids: Iterable[str],
        collections: Sequence[str] | None = None,
    ) -> None:
        self._db = db
        self._collections = collections
        self.story_of = db.stories_of(article_ids)

    def key(self, article_id: str) -> str:
        """The story id, or the article's own id when it is not grouped (yet)."""
        return self.story_of.get(article_id, article_id)

    def with_versions(self, hits: list[Hit], as_of: date) -> list[Hit]:
        """`hits` with, around each passage of a story stored in versions of several days,
        the matching passage of its newest version (before it) and of the version before that
        (after it), where the search left them out as near-duplicates: an update must be able
        to lead, and the earlier text must be there to be compared with it (bot/reader/dating.py).
        Versions dated after `as_of` (beyond the ranking's slack) are left out."""
        found = {h.passage.article.id for h in hits}
        stories = self._db.story_articles(
            {self.key(a) for a in found if a in self.story_of}, self._collections
        )
        last = as_of + timedelta(days=FUTURE_SLACK_DAYS)
        by_day: dict[str, list[tuple[date, StoryCopy]]] = {}  # story -> versions, newest first
        for sid, copies in stories.items():
            dated = sorted(
                ((d, k) for k in copies if (d := _day(k.published)) and d <= last),
                key=lambda x: (x[0], x[1].article_id), reverse=True,
            )
            if len({d for d, _ in dated}) > 1:
                by_day[sid] = dated
        out: list[Hit] = []
        for hit in hits:
            versions = by_day.get(self.key(hit.passage.article.id))
            if not versions:
                out.append(hit)
                continue
            aid = hit.passage.article.id
            newest = versions[0]
            previous = next((v for v in versions if v[0] < newest[0]), None)
            before = [newest] if newest[1].article_id != aid else []
            after = [previous] if previous and previous[1].article_id != aid else []
            out += self._versions(before, hit, found)
            out.append(hit)
            out += self._versions(after, hit, found)
        return out

    def _versions(
        self, versions: list[tuple[date, StoryCopy]], hit: Hit, found: set[str]
    ) -> list[Hit]:
        out = []
        for _, copy in versions:
            if copy.article_id in found:
                continue
            match = self._matching_passage(copy.article_id, hit.passage.text)
            if match is not None:
                out.append(replace(hit, passage=match))
                found.add(copy.article_id)
                self.story_of[copy.article_id] = self.key(hit.passage.article.id)
        return out

    def _matching_passage(self, article_id: str, text: str) -> PassageRow | None:
        """The passage of `article_id` that is a near-duplicate of `text`, if any."""
        ids = self._db.passage_ids_of(self._db.connection(), article_id)
        mine = shingles(text)
        best, best_share = None, 0.0
        for row in self._db.passages(ids).values():
            theirs = shingles(row.text)
            share = len(mine & theirs) / max(1, min(len(mine), len(theirs)))
            if share > best_share:
                best, best_share = row, share
        return best if best_share >= SAME_PASSAGE else None

    def one_per_story(self, hits: list[Hit]) -> list[Hit]:
        """`hits` without passages of a second article of a story already there (passages of
        the first copy itself stay, as the search's per-article cap allows)."""
        chosen: dict[str, str] = {}  # story -> the article kept for it
        out = []
        for hit in hits:
            aid = hit.passage.article.id
            if chosen.setdefault(self.key(aid), aid) == aid:
                out.append(hit)
        return out

    def with_copies(self, citations: list[Citation]) -> list[Citation]:
        """`citations`, each with the other copies of its story."""
        stories = self._db.story_articles(
            {self.story_of[c.article_id] for c in citations if c.article_id in self.story_of},
            self._collections,
        )
        out = []
        for c in citations:
            copies = [
                k for k in stories.get(self.story_of.get(c.article_id, ""), [])
                if k.article_id != c.article_id
            ]
            out.append(replace(c, also_reported_by=[
                ReportedBy(
                    publisher=publisher(k.source, k.url) or "unknown", published=k.published,
                    url=k.url, title=k.title,
                )
                for k in copies
            ]))
        return out


def also_reported_by(c: Citation) -> str | None:
    """"also reported by: AP, Reuters (2)": each other publisher once, with its number of
    copies when more than one; None when the story has no other copy."""
    counts: dict[str, int] = {}
    for r in c.also_reported_by:
        counts[r.publisher] = counts.get(r.publisher, 0) + 1
    if not counts:
        return None
    names = [f"{p} ({n})" if n > 1 else p for p, n in counts.items()]
    return "also reported by: " + ", ".join(names)
