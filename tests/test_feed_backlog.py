"""A followed feed's entries not stored yet (issue 18 item 14): entries whose pages are dead
never use up a poll's budget for the entries after them (each failure is remembered and tried
again after a back-off), a feed with more entries than one poll takes says how many are left
and the next polls read them, `feeds list` shows what is waiting or failing, and a store made
before this keeps its feed state. On both stores, against test_following's loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from bot.cli import cli as main_cli
from bot.engine import NewsEngine
from bot.feeds.following import FeedPoller
from index.embedding import HashingEmbedder
from index.feedstate import FeedBook
from index.models import ArticleInput, ReadResult
from index.postgres.schema import MIGRATIONS as PG_MIGRATIONS
from index.sqlite.schema import MIGRATIONS
from tests.conftest import backend_config
from tests.test_following import Clock, Entry, FeedServer, config_file, titles  # noqa: F401

INTERVAL_S = 600
PRIVATE = (
    "The Zephyrion copper mine in Norland closed on Friday, the owner Quarrix Mining said. "
    "All 412 workers at the Zephyrion mine were told in a private meeting that the mine "
    "would not reopen. Quarrix said the copper price had fallen too far."
)


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def engine(backend, backend_url, tmp_path) -> Iterator[NewsEngine]:
    config = backend_config(
        backend, tmp_path / "data", backend_url,
        fetch={"allow_private": True, "timeout_s": 5}, follow={"jitter": 0.0},
    )
    engine = NewsEngine(config, embedder=HashingEmbedder())
    yield engine
    engine.close()


def dead(feed: FeedServer, n: int) -> Entry:
    """A teaser whose linked page answers 404."""
    entry = Entry(title=f"Dead story {n}", link=f"http://127.0.0.1:{feed.port}/gone/{n}", text="")
    feed.entries.insert(0, entry)
    return entry


def gone_requests(feed: FeedServer) -> int:
    with feed.lock:
        return sum(1 for path, _ in feed.requests if path.startswith("/gone/"))


def test_dead_entries_do_not_starve_the_good_ones_after_them(feed, engine):
    clock = Clock()
    poller = FeedPoller(engine, clock=clock)
    for n in range(5):
        feed.publish(n)  # full text, the oldest: listed last
    for n in range(50):
        dead(feed, n)  # follow.max_entries_per_poll is 50: one poll's whole budget
    poller.follow(feed.url, every="10m")
    good = {f"Council story {n}" for n in range(5)}

    [first] = poller.poll_due().polls
    assert first.status == "backlog" and len(first.skipped) == 50
    assert (first.waiting, first.failing_entries) == (5, 50)
    assert first.backlog == "5 entries left for later polls, 50 failing (tried again later)"
    row = poller.feeds()[0]
    assert (row.waiting, row.failing_entries) == (5, 50)

    # The next poll (its feed unchanged) reads the five good entries; the dead ones wait.
    clock.advance(INTERVAL_S + 1)
    [second] = poller.poll_due().polls
    assert second.status == "new" and titles(engine) == good
    assert (second.waiting, second.failing_entries) == (0, 50)
    assert gone_requests(feed) == 50
    assert feed.feed_requests()[-1].get("If-None-Match") is None  # fetched in full

    # Two intervals after their failure, the dead entries are tried again (and fail again).
    clock.advance(INTERVAL_S + 1)
    [third] = poller.poll_due().polls
    assert third.status == "unchanged" and gone_requests(feed) == 100
    failures = poller.book.entry_failures(feed.url)
    assert len(failures) == 50 and {f.failures for f in failures.values()} == {2}
    assert all("404" in f.last_error for f in failures.values())

    # Nothing left to read: a conditional request again, which the unchanged feed answers 304.
    clock.advance(INTERVAL_S + 1)
    [fourth] = poller.poll_due().polls
    assert fourth.status == "not modified" and fourth.failing_entries == 50

    # Entries the feed no longer lists are forgotten.
    feed.entries = [e for e in feed.entries if not e.title.startswith("Dead")]
    clock.advance(INTERVAL_S + 1)
    [fifth] = poller.poll_due().polls
    assert fifth.status == "unchanged" and fifth.failing_entries == 0
    assert poller.book.entry_failures(feed.url) == {}
    assert titles(engine) == good


def test_a_feed_longer_than_one_poll_says_what_is_left_and_the_next_polls_read_it(
    tmp_path, feed, config_file, monkeypatch  # noqa: F811
):
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    data = tmp_path / "data"
    config_file.write_text(config_file.read_text() + "[follow]\nmax_entries_per_poll = 200\n")

    def run(*args: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(
            main_cli, ["--data-dir", str(data), "--config", str(config_file), *args]
        )
        assert result.exit_code == 0, result.output + repr(result.exception)
        return result

    for n in range(450):  # more than fetch.max_feed_entries (200) too
        feed.publish(n)
    run("feeds", "add", feed.url)
    polled = run("feeds", "poll")
    assert "new, 200 added, 0 skipped, 250 entries left for later polls" in polled.output
    listed = run("feeds", "list")
    assert "entries not stored yet: 250 waiting, 0 failing" in listed.output
    [row] = [json.loads(line) for line in run("feeds", "list", "--json").stdout.splitlines()]
    assert (row["waiting"], row["failing_entries"]) == (250, 0)

    for left in ("50 entries left for later polls", None):
        again = run("feeds", "poll", "--all")
        assert "new, 200 added" in again.output or "new, 50 added" in again.output
        assert left is None or left in again.output, again.output
    assert json.loads(run("index", "stats", "--json").stdout)["articles"] == 450
    final = run("feeds", "poll", "--all")
    assert "not modified" in final.output and "left for later" not in final.output


def before(migrations: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    """The migrations a store made before `name` has run: every one listed before it."""
    return migrations[: [n for n, _ in migrations].index(name)]


def test_a_store_made_before_the_backlog_keeps_its_feed_state(
    backend, backend_url, tmp_path, feed, monkeypatch
):
    config = backend_config(
        backend, tmp_path / "data", backend_url,
        fetch={"allow_private": True, "timeout_s": 5}, follow={"jitter": 0.0},
    )
    # The store as the previous release made it: every migration before the backlog's.
    if backend == "sqlite":
        monkeypatch.setattr("index.sqlite.database.MIGRATIONS",
                            before(MIGRATIONS, "009_feed_backlog"))
    else:
        monkeypatch.setattr("index.postgres.database.MIGRATIONS",
                            before(PG_MIGRATIONS, "004_feed_backlog"))
    old = NewsEngine(config, embedder=HashingEmbedder())
    with old.store.db.transaction() as tx:
        tx.execute(
            "INSERT INTO feeds (url, interval_s, next_due, etag, last_modified, last_fetch_at,"
            " last_new_at, last_error, last_error_at, failures, added_at)"
            " VALUES (?, 600, 5.0, '\"v1\"', NULL, '2026-01-01T00:00:00+00:00', NULL, 'boom',"
            " '2026-01-01T00:00:00+00:00', 1, '2025-12-01T00:00:00+00:00')", (feed.url,))
        tx.execute("INSERT INTO feed_followers (url, collection, interval_s, added_at)"
                   " VALUES (?, 'shared', 600, '2025-12-01T00:00:00+00:00')", (feed.url,))
        tx.execute("INSERT INTO feed_entries (url, entry, article_id, seen_at)"
                   " VALUES (?, 'old-entry', NULL, '2026-01-01T00:00:00+00:00')", (feed.url,))
    old.close()
    monkeypatch.undo()

    engine = NewsEngine(config, embedder=HashingEmbedder())
    try:
        book = FeedBook(engine.store.db)
        row = book.get(feed.url)
        assert row is not None and row.etag == '"v1"' and row.failures == 1
        assert row.last_error == "boom" and row.followers == {"shared": 600}
        assert (row.waiting, row.failing_entries) == (0, 0)
        assert book.seen(feed.url) == {"old-entry"}
        feed.publish(1)
        [poll] = FeedPoller(engine, clock=Clock()).poll_due().polls
        assert poll.status == "new" and titles(engine) == {"Council story 1"}
    finally:
        engine.close()


class PagesDown(FeedServer):
    """The feed, whose linked pages answer 503 while `down`."""

    down = True

    def _page(self, request) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            request.send_error(503)
        else:
            super()._page(request)


def test_a_page_failing_for_the_follower_without_the_link_is_retried_for_it(engine):
    """guild:1 holds its own text under an entry's link, guild:2 does not: the page is
    fetched for guild:2 only (the isolation rule), and when it fails the entry is not taken
    as read (guild:1's copy does not count for guild:2) but tried again after the back-off."""
    feed = PagesDown()
    try:
        entry = feed.publish(1, teaser=True)
        own = ArticleInput(text=PRIVATE, url=entry.link, title="Own copy", origin="upload")
        (private,) = engine.add_articles(ReadResult(articles=[own]), collection="guild:1").added
        clock = Clock()
        poller = FeedPoller(engine, clock=clock)
        for guild in ("guild:1", "guild:2"):
            poller.follow(feed.url, collection=guild, every="10m")

        [first] = poller.poll_due().polls
        assert first.status == "unchanged" and first.failing_entries == 1
        assert not any(first.added.values()) and feed.page_requests()
        assert poller.book.seen(feed.url) == set()
        assert list(poller.book.entry_failures(feed.url)) == [entry.link]
        tried = len(feed.page_requests())

        feed.down = False
        clock.advance(INTERVAL_S + 1)  # the back-off (two intervals) is not over yet
        [second] = poller.poll_due().polls
        assert second.status == "not modified" and second.failing_entries == 1
        assert len(feed.page_requests()) == tried

        clock.advance(INTERVAL_S + 1)
        [third] = poller.poll_due().polls
        assert third.status == "new" and third.failing_entries == 0
        assert third.added.get("guild:1", []) == []
        (fetched,) = third.added["guild:2"]
        db = engine.store.db
        assert fetched.id != private.id and "page project 1" in fetched.text
        assert db.collections_of(private.id) == {"guild:1"}
        assert db.article_by_id(private.id).text == PRIVATE
        assert poller.book.seen(feed.url) == {entry.link}
        assert poller.book.entry_failures(feed.url) == {}
    finally:
        feed.close()
