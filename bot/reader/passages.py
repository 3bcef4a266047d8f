"""The passages a question's reader reads: the search's hits, recent first, a story's versions
joined.

The search returns `RECENCY_POOL` times the passages read; recent articles move up among them
(news questions mean the latest reports), the best `max(top_k, passages_read)` are kept, and a
story stored in versions of several days has its newest and previous versions joined
(bot/reader/copies.py), so that an update can lead and the earlier text be compared with it.
Every reader (bot/reader/base.py) reads the same `Passages`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from bot.reader.copies import Stories
from bot.reader.ranking import recency
from index.search import Filters, Hit, Searcher
from index.settings import AnswerSettings

# The search returns RECENCY_POOL times the passages read; an article of the week before the
# day asked moves up RECENCY_PLACES places among them (less as it ages, down if dated after).
RECENCY_POOL = 2
RECENCY_PLACES = 10


@dataclass(frozen=True)
class Passages:
    """What the search found for one question, as every reader reads it."""

    hits: list[Hit]  # recent first, a story's versions joined
    stories: Stories  # the story of each hit's article: one copy per story is shown
    idf: Callable[[Iterable[str]], dict[str, float]]  # the store's weight of each word stem
    started: float  # time.perf_counter() when the question came in (for Answer.latency_ms)


def gather(
    searcher: Searcher, settings: AnswerSettings, top_k: int, question: str, *,
    context: str | None = None, filters: Filters | None = None, day: date,
) -> Passages:
    """The passages for `question` asked on `day`. `context` (earlier conversation) joins the
    search query only."""
    started = time.perf_counter()
    query = f"{context} {question}" if context else question
    limit = max(top_k, settings.passages_read)
    hits = _recent_first(
        searcher.search(query, limit=RECENCY_POOL * limit, filters=filters), day,
    )[:limit]
    # One copy per story among the sources (bot/reader/copies.py); the others are named on it.
    # A story's newest and previous versions join the passages read (the search keeps one).
    stories = Stories(
        searcher.store.db, (h.passage.article.id for h in hits),
        filters.collections if filters else None,
    )
    return Passages(stories.with_versions(hits, day), stories, searcher.idf, started)


def question_day(as_of: str | date | None) -> date:
    """The day a question is asked: `as_of` as a date (default: today, UTC)."""
    if as_of is None:
        return datetime.now(UTC).date()
    if isinstance(as_of, datetime):
        return as_of.date()
    if isinstance(as_of, date):
        return as_of
    return date.fromisoformat(as_of[:10])


def _recent_first(hits: list[Hit], day: date) -> list[Hit]:
    """Search results with recent articles moved up: news questions mean the latest reports."""
    order = sorted(
        range(len(hits)),
        key=lambda i: i - RECENCY_PLACES * recency(hits[i].passage.article.published, day),
    )
    return [hits[i] for i in order]
