"""Followed feeds, polled on a schedule: follow, unfollow, list, and one polling cycle.

Plain Python on the engine: `newsbot feeds poll` runs one cycle, `newsbot follow` runs cycles
until stopped (for cron users and operators without Discord), and `newsbot run` runs them in a
worker thread beside the Discord client.

What a cycle does, and why:
- it claims the feeds that are due (at most follow.max_feeds_per_cycle), so that two processes
  on one store never fetch the same feed at once;
- each feed is fetched with a conditional GET (its last ETag / Last-Modified): a 304 costs one
  round trip and nothing else; the URL guard, size and time caps of `index add` apply (the same
  transport), and one feed read, linked pages included, ends by fetch.feed_timeout_s;
- only entries not stored before are read (at most follow.max_entries_per_poll; entries never
  tried first, failed ones again after a back-off: bot/feeds/backlog.py), and their linked
  pages are fetched one at a time, never two requests at once to one host; what is left over
  is read by the next polls, and the feed is then fetched in full (a 304 would hide it);
- the articles go into the collection of every follower: a feed that several servers follow is
  fetched once per interval (the shortest any of them asked for);
- the next fetch is one interval later, give or take follow.jitter; after a failure it waits
  longer (interval x 2^failures, at most follow.max_backoff_minutes), and after
  follow.failing_after failures in a row the feed is reported as failing. Nothing a feed does
  ever ends the loop.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.engine import IngestReport, NewsEngine
from bot.feeds.backlog import after_poll, describe_backlog, plan_entries
from bot.settings import FollowSettings
from index.collections import SHARED, check_name
from index.errors import InputError, NewsbotError
from index.feedstate import FeedBook, FeedRow
from index.models import Article, ArticleInput, ReadResult, Skipped
from index.readers import transport
from index.readers.feeds import FEED_ACCEPT, parse_entries, read_entries, within
from index.readers.netguard import split_url
from index.readers.normalize import canonical_url
from index.readers.web import fetch_url
from index.settings import FetchSettings

log = logging.getLogger("newsbot.follow")

MIN_INTERVAL_S = 5 * 60  # the floor of every feed's interval
MAX_INTERVAL_S = 7 * 24 * 3600

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]|min|mins|minutes?|hours?|days?)?\s*$", re.I)
_UNIT_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_every(text: str | int | None, default_minutes: int) -> int:
    """An interval in seconds from '30m', '2h', '1d', '90s' or a number of minutes; at least
    5 minutes and at most a week, else InputError."""
    if text is None or (isinstance(text, str) and not text.strip()):
        seconds = default_minutes * 60
    elif isinstance(text, int):
        seconds = text * 60
    else:
        match = _EVERY.match(text)
        if not match:
            raise InputError(
                f"every: {text!r} is not an interval like 30m, 2h or 1d"
            )
        unit = (match.group(2) or "m").lower()
        unit = {"mins": "min", "minute": "min", "minutes": "min", "hour": "h", "hours": "h",
                "day": "d", "days": "d"}.get(unit, unit)
        seconds = int(float(match.group(1)) * _UNIT_S[unit])
    if seconds < MIN_INTERVAL_S:
        raise InputError("every: feeds are fetched at most every 5 minutes (5m)")
    if seconds > MAX_INTERVAL_S:
        raise InputError("every: at most a week (7d)")
    return seconds


def feed_url(text: str) -> str:
    """The canonical form of a feed URL a user gave; InputError when it is not http(s)."""
    text = text.strip().strip("<>")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("the feed URL is not valid UTF-8 text") from None
    split_url(text)  # FetchRefused (an InputError) for a scheme, host or port not fetched
    return canonical_url(text)


def describe_interval(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass
class FeedPoll:
    """What one fetch of one feed did."""

    url: str
    status: str  # "new" (it had new entries), "not modified", "unchanged" (no new entry),
    # "backlog" (no new article yet, entries left for later polls), "failed" (fetching or
    # parsing did not work)
    added: dict[str, list[Article]] = field(default_factory=dict)  # per collection
    skipped: list[Skipped] = field(default_factory=list)
    error: str | None = None
    failures: int = 0
    waiting: int = 0  # entries left for later polls (over follow.max_entries_per_poll)
    failing_entries: int = 0  # entries that failed, tried again after a back-off

    @property
    def backlog(self) -> str:
        """'4,800 entries left for later polls, 3 failing (tried again later)', or ''."""
        return describe_backlog(self.waiting, self.failing_entries)


@dataclass
class CycleReport:
    polls: list[FeedPoll] = field(default_factory=list)
    expired: list[Article] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(len(a) for p in self.polls for a in p.added.values())


def _as_input(article: Article) -> ArticleInput:
    """A stored article as the input that stores it unchanged (in another collection too)."""
    return ArticleInput(
        text=article.text, title=article.title, url=article.url, source=article.source,
        published=article.published, author=article.author, origin=article.origin or "",
    )


class HostGate:
    """One request at a time per host name, across every thread of this process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    @contextmanager
    def hold(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "").lower()
        with self._guard:
            lock = self._locks[host]
        with lock:
            yield


class FeedPoller:
    """Follows feeds for collections and polls them; every method blocks (run it off an event
    loop) and is safe to call from several threads."""

    def __init__(
        self,
        engine: NewsEngine,
        settings: FollowSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or engine.config.follow
        self.book = FeedBook(engine.store.db)
        self.clock = clock
        self.rng = rng or random.Random()
        self.gate = HostGate()
        self._cycle = threading.Lock()

    @property
    def fetch(self) -> FetchSettings:
        return self.engine.config.store.fetch

    # -- following --------------------------------------------------------------------------
    def follow(self, url: str, collection: str = SHARED, every: str | int | None = None) -> FeedRow:
        collection = check_name(collection)
        interval = parse_every(every, self.settings.interval_minutes)
        url = feed_url(url)
        before = self.book.get(url)
        row = self.book.follow(url, collection, interval, self.clock())
        if before is not None and collection not in before.followers:
            self._join(url, collection)
        return row

    def _join(self, url: str, collection: str) -> IngestReport:
        """A collection that follows a feed others already follow gets the articles its
        entries became, as stored (nothing is fetched or embedded again)."""
        db = self.engine.store.db
        inputs = []
        for article_id in self.book.entry_articles(url):
            article = db.article_by_id(article_id)
            if article is not None:
                inputs.append(_as_input(article))
        return self._add(inputs, collection, url) if inputs else IngestReport()

    def unfollow(self, url: str, collection: str = SHARED) -> bool:
        return self.book.unfollow(feed_url(url), collection)

    def feeds(self, collection: str | None = None) -> list[FeedRow]:
        return self.book.feeds(collection)

    def is_failing(self, row: FeedRow) -> bool:
        return row.failing(self.settings.failing_after)

    # -- polling ----------------------------------------------------------------------------
    def poll_due(
        self, *, urls: list[str] | None = None, expire: bool = True,
        on_poll: Callable[[FeedPoll], None] | None = None,
    ) -> CycleReport:
        """One cycle: fetch the feeds that are due (or exactly `urls`, due or not), then apply
        retention. Feeds are polled one after the other: a cycle is one polite client.
        `on_poll` hears of each feed as soon as its articles are stored."""
        report = CycleReport()
        # Scheduled cycles one at a time; a poll of named feeds (the first fetch of a feed
        # just followed) does not wait behind one. The host gate keeps both polite.
        with self._cycle if urls is None else contextlib.nullcontext():
            lease = self.fetch.feed_timeout_s + 60
            wanted = [feed_url(u) for u in urls] if urls is not None else None
            rows = self.book.claim_due(
                self.clock(), self.settings.max_feeds_per_cycle, lease, wanted
            )
            for row in rows:
                poll = self._poll_safely(row)
                report.polls.append(poll)
                if on_poll is not None:
                    on_poll(poll)
            if expire and rows:  # an idle check (nothing due) costs no store scan
                report.expired = self.engine.expire().removed
        return report

    def _poll_safely(self, row: FeedRow) -> FeedPoll:
        try:
            return self._poll(row)
        except NewsbotError as exc:
            return self._failed(row, str(exc))
        except Exception as exc:  # one feed's surprise must not stop the others
            log.exception("polling %s failed", row.url)
            return self._failed(row, f"unexpected {type(exc).__name__}: {exc}")

    def _poll(self, row: FeedRow) -> FeedPoll:
        deadline = time.monotonic() + self.fetch.feed_timeout_s
        # A feed with entries still to read is fetched in full: a 304 says nothing of them.
        retry = self.book.next_retry(row.url)
        backlog = row.waiting > 0 or (retry is not None and retry <= self.clock())
        validators = transport.Validators(
            None if backlog else row.etag, None if backlog else row.last_modified
        )
        with self.gate.hold(row.url):
            page = transport.get(
                row.url, within(self.fetch, deadline), accept=FEED_ACCEPT,
                validators=validators,
            )
        now = self.clock()
        if page.status == 304:
            self.book.record_fetched(
                row.url, now=now, next_due=self._next(now, row.interval_s),
                etag=page.etag, last_modified=page.last_modified, new_articles=False,
            )
            return FeedPoll(row.url, "not modified", failing_entries=row.failing_entries)
        document = parse_entries(page.body, row.url, self.fetch, base_url=page.url, capped=False)
        if document.refused:
            raise InputError(document.skipped[0].reason)
        plan = plan_entries(document.entries, self.book.seen(row.url),
                            self.book.entry_failures(row.url), now,
                            self.settings.max_entries_per_poll)
        # An entry whose link a follower already holds (added by hand, or by another feed) is
        # taken as stored for that follower: the page is not fetched for it. Only a follower's
        # own article counts: another collection's copy under the URL is never handed to it
        # (a server's private upload stays its own), so the page is fetched for the others.
        followers = list(row.followers or {SHARED: row.interval_s})
        db = self.engine.store.db
        own = {
            (e.key, c): a for e in plan.chosen if e.link for c in followers
            if (a := db.article_by_url(e.link, c))
        }
        to_read = [e for e in plan.chosen if any((e.key, c) not in own for c in followers)]
        outcomes: list[ArticleInput | Skipped] = []
        for entry in to_read:  # one at a time, each started before the feed's time is up
            if time.monotonic() >= deadline:
                break
            outcomes += read_entries(
                document, row.url, self.fetch, entries=[entry], deadline=deadline,
                fetch_page=self._fetch_page, parallel=False,
            )
        poll = FeedPoll(row.url, "unchanged")
        failed: dict[str, str] = {}  # entry key -> why it is not an article
        read: dict[str, ArticleInput] = {}
        for entry, outcome in zip(to_read, outcomes, strict=False):
            if isinstance(outcome, ArticleInput):
                read[entry.key] = outcome
            else:
                poll.skipped.append(outcome)
                failed[entry.key] = outcome.reason
        done: set[str] = {  # entries that need nothing stored: every follower held them
            e.key for e in plan.chosen if all((e.key, c) in own for c in followers)}
        for collection in followers:
            mine = [
                a for e in plan.chosen if (a := own.get((e.key, collection)) or read.get(e.key))
            ]
            if not mine:
                continue
            articles = [a if isinstance(a, ArticleInput) else _as_input(a) for a in mine]
            held = self._held(articles, collection)
            report = self._add(articles, collection, row.url)
            # New to this collection: stored now, or stored before for another collection.
            poll.added[collection] = [
                a for a in report.added + report.updated + report.unchanged if a.id not in held
            ]
            poll.skipped += report.skipped
            hashes = {a.content_hash for a in report.added + report.updated + report.unchanged}
            done.update(key for key, item in read.items() if item.content_hash in hashes)
        for key, item in read.items():
            if key not in done:  # refused by the store (the reason is in poll.skipped)
                failed[key] = next((s.reason for s in poll.skipped if s.origin == item.origin),
                                   "the store did not keep it")
        # Each entry remembered with the article its fetched page became, as a collection that
        # follows later is handed it (`_join`); none where every follower had its own copy
        # (or merged the page into one), never a follower's own copy.
        entries = []
        for key in [e.key for e in plan.chosen if e.key in done]:
            found = self.engine.store.identical(read[key]) if key in read else None
            entries.append((key, found.id if found else None))
        poll.waiting = plan.waiting + len(to_read) - len(outcomes)  # time ran out for these
        backlog_now, poll.failing_entries = after_poll(
            plan, failed, {key for key, _ in entries}, now=now, interval_s=row.interval_s,
            max_backoff_s=self.settings.max_backoff_minutes * 60, waiting=poll.waiting,
        )
        # Recorded after the articles are committed: a process killed in between reads those
        # entries again next time (and finds them stored), never loses one it said it added.
        new = any(poll.added.values())
        self.book.record_fetched(
            row.url, now=now, next_due=self._next(now, row.interval_s), etag=page.etag,
            last_modified=page.last_modified, new_articles=new, entries=entries,
            backlog=backlog_now,
        )
        if new:
            poll.status = "new"
        elif poll.waiting:
            poll.status = "backlog"
        for collection, added in poll.added.items():
            for article in added:
                log.info("feed %s: added %s (%s) to %s", row.url, article.display_title,
                         article.id, collection)
        return poll

    def _held(self, articles: list[ArticleInput], collection: str) -> set[str]:
        """Ids of the stored articles (same URL or same text) `collection` already holds."""
        db = self.engine.store.db
        held = set()
        for item in articles:
            found = (item.url and db.article_by_url(item.url, collection)) or db.article_by_hash(
                item.content_hash, collection
            )
            if found:
                held.add(found.id)
        return held

    def _add(self, articles: list[ArticleInput], collection: str, url: str) -> IngestReport:
        return self.engine.add_articles(
            ReadResult(articles=articles), collection=collection, what=f"feed {url}"
        )

    def _fetch_page(self, url: str, fetch: FetchSettings, *, policy=None) -> ArticleInput:  # type: ignore[no-untyped-def]
        with self.gate.hold(url):
            return fetch_url(url, fetch, policy=policy)

    def _failed(self, row: FeedRow, error: str) -> FeedPoll:
        now = self.clock()
        failures = row.failures + 1
        backoff = min(row.interval_s * 2 ** min(failures, 30),
                      self.settings.max_backoff_minutes * 60)
        failures = self.book.record_failure(
            row.url, now=now, next_due=now + self._jittered(max(backoff, row.interval_s)),
            error=error,
        )
        if failures >= self.settings.failing_after:
            log.warning("feed %s is failing (%d times in a row): %s", row.url, failures, error)
        return FeedPoll(row.url, "failed", error=error, failures=failures)

    def _next(self, now: float, interval_s: int) -> float:
        return now + self._jittered(interval_s)

    def _jittered(self, seconds: float) -> float:
        spread = self.settings.jitter
        return seconds * self.rng.uniform(1 - spread, 1 + spread)

    # -- running ----------------------------------------------------------------------------
    def seconds_to_next(self) -> float:
        """How long until a feed is due (capped at follow.check_every_s)."""
        due = self.book.next_due()
        wait = self.settings.check_every_s
        if due is not None:
            wait = min(wait, max(0.0, due - self.clock()))
        return wait

    def run(self, stop: threading.Event, on_poll: Callable[[FeedPoll], None] | None = None,
            on_cycle: Callable[[CycleReport], None] | None = None) -> None:
        """Cycles until `stop` is set; a cycle's failure is logged and the next one runs."""
        while not stop.is_set():
            try:
                report = self.poll_due(on_poll=on_poll)
                if on_cycle is not None:
                    on_cycle(report)
            except Exception:
                log.exception("a polling cycle failed")
            stop.wait(max(1.0, self.seconds_to_next()))
