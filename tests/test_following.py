"""Followed feeds against a real loopback feed server (fetch.allow_private, for tests only)
that publishes entries over time, answers 304 to conditional requests and fails on demand;
the poller's clock is a test clock, so intervals and back-off are checked without waiting."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli as main_cli
from bot.engine import NewsEngine
from bot.feeds.following import MIN_INTERVAL_S, FeedPoller, parse_every
from index.embedding import HashingEmbedder
from index.errors import InputError
from tests.conftest import ROOT, make_fast_config

PARAGRAPH = (
    "The council met on {day} and approved the plan for the {thing}, which residents had "
    "asked for since the spring. Officials said the work would start within weeks and cost "
    "less than first feared, and the mayor thanked the volunteers who had collected the "
    "signatures. Shops along the high street said they expected more visitors once the work "
    "was finished, and the bus company promised extra services on weekends."
)


@dataclass
class Entry:
    title: str
    link: str
    text: str  # full text in <content:encoded>, or "" for a teaser whose page is fetched


@dataclass
class FeedServer:
    """An RSS feed on 127.0.0.1 that the test changes as it goes."""

    entries: list[Entry] = field(default_factory=list)
    fail_with: int | None = None  # answer this HTTP status instead of the feed
    garbage: bool = False  # answer a document that is not a feed
    page_delay_s: float = 0.0  # how long each linked page takes
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append((self.path, dict(self.headers.items())))
                if self.path == "/feed.xml":
                    server._feed(self)
                elif self.path.startswith("/story/"):
                    server._page(self)
                else:
                    self.send_error(404)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed.xml"

    def publish(self, n: int, *, teaser: bool = False) -> Entry:
        entry = Entry(
            title=f"Council story {n}",
            link=f"http://127.0.0.1:{self.port}/story/{n}",
            # Two paragraphs: over the 80 words under which an entry is taken for a teaser.
            text="" if teaser else "</p><p>".join(
                PARAGRAPH.format(day=f"day {n}", thing=f"project {n} part {part}")
                for part in (1, 2)
            ),
        )
        self.entries.insert(0, entry)  # newest first, as feeds list them
        return entry

    def body(self) -> bytes:
        items = "".join(
            f"<item><title>{escape(e.title)}</title><link>{escape(e.link)}</link>"
            f"<guid>{escape(e.link)}</guid><description>Teaser.</description>"
            + (f"<content:encoded><![CDATA[<p>{e.text}</p>]]></content:encoded>" if e.text
               else "")
            + "</item>"
            for e in self.entries
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>Loopback Courier</title><link>http://127.0.0.1/</link>{items}"
            "</channel></rss>"
        ).encode()

    def feed_requests(self) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, h in self.requests if p == "/feed.xml"]

    def page_requests(self) -> list[str]:
        with self.lock:
            return [p for p, _ in self.requests if p.startswith("/story/")]

    def _feed(self, request: BaseHTTPRequestHandler) -> None:
        if self.fail_with:
            request.send_error(self.fail_with)
            return
        body = b"this is <not> a feed & never was" if self.garbage else self.body()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = formatdate(1_700_000_000 + len(self.entries) * 60, usegmt=True)
        if request.headers.get("If-None-Match") == etag:
            request.send_response(304)
            request.send_header("ETag", etag)
            request.end_headers()
            return
        request.send_response(200)
        request.send_header("Content-Type", "application/rss+xml")
        request.send_header("Content-Length", str(len(body)))
        request.send_header("ETag", etag)
        request.send_header("Last-Modified", modified)
        request.end_headers()
        request.wfile.write(body)

    def _page(self, request: BaseHTTPRequestHandler) -> None:
        n = request.path.rsplit("/", 1)[-1]
        time.sleep(self.page_delay_s)
        text = PARAGRAPH.format(day=f"page day {n}", thing=f"page project {n}")
        body = (f"<html><head><title>Council story {n}</title></head><body><article>"
                f"<h1>Council story {n}</h1><p>{text}</p><p>{text}</p></article></body>"
                "</html>").encode()
        try:
            request.send_response(200)
            request.send_header("Content-Type", "text/html; charset=utf-8")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except OSError:
            pass

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class Clock:
    """The poller's time, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


def fast_engine_at(data: Path, **sections: dict) -> NewsEngine:
    config = make_fast_config(data, fetch={"allow_private": True, "timeout_s": 5}, **sections)
    return NewsEngine(config, embedder=HashingEmbedder())


@pytest.fixture
def engine(tmp_path) -> Iterator[NewsEngine]:
    engine = fast_engine_at(tmp_path / "data", follow={"jitter": 0.0})
    yield engine
    engine.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def poller(engine, clock) -> FeedPoller:
    return FeedPoller(engine, clock=clock)


def titles(engine: NewsEngine) -> set[str]:
    return {a.title for a in engine.store.db.all_articles()}


# -- intervals ----------------------------------------------------------------------------------
def test_intervals_have_a_floor_of_five_minutes():
    assert parse_every("5m", 60) == MIN_INTERVAL_S
    assert parse_every("2h", 60) == 7200
    assert parse_every("1d", 60) == 86400
    assert parse_every(None, 45) == 45 * 60
    assert parse_every("90", 60) == 90 * 60
    for bad in ("4m", "299s", "0", "soon", "8d"):
        with pytest.raises(InputError, match="every"):
            parse_every(bad, 60)


def test_follow_refuses_urls_the_guard_refuses(poller):
    for bad in ("ftp://example.com/feed", "file:///etc/passwd", "http://user:pw@example.com/"):
        with pytest.raises(InputError):
            poller.follow(bad)


# -- polling ------------------------------------------------------------------------------------
def test_new_entries_are_added_as_they_are_published_and_never_fetched_again(
    feed, poller, engine, clock
):
    feed.publish(1)
    feed.publish(2, teaser=True)  # its page is fetched
    poller.follow(feed.url, every="10m")

    first = poller.poll_due()
    [poll] = first.polls
    assert poll.status == "new" and len(poll.added["shared"]) == 2
    assert titles(engine) == {"Council story 1", "Council story 2"}
    assert feed.page_requests() == ["/story/2"]

    # Not due yet: nothing is fetched.
    clock.advance(5 * 60)
    assert poller.poll_due().polls == []
    assert len(feed.feed_requests()) == 1

    # Due, and the feed has not changed: a conditional request, answered 304.
    clock.advance(5 * 60 + 1)
    [poll] = poller.poll_due().polls
    assert poll.status == "not modified"
    sent = feed.feed_requests()[-1]
    assert sent.get("If-None-Match") and sent.get("If-Modified-Since")

    # A new entry appears: only it is read; the earlier teaser's page is not fetched again.
    feed.publish(3, teaser=True)
    clock.advance(10 * 60 + 1)
    [poll] = poller.poll_due().polls
    assert poll.status == "new"
    assert [a.title for a in poll.added["shared"]] == ["Council story 3"]
    assert feed.page_requests() == ["/story/2", "/story/3"]
    row = poller.feeds()[0]
    assert row.last_fetch_at and row.last_new_at and row.failures == 0


def test_entries_stored_before_the_feed_was_followed_are_not_fetched_again(
    feed, poller, engine
):
    first = feed.publish(1, teaser=True)
    feed.publish(2, teaser=True)
    report = engine.add_urls([first.link])  # added by hand before anyone followed the feed
    assert len(report.added) == 1 and feed.page_requests() == ["/story/1"]
    poller.follow(feed.url)
    [poll] = poller.poll_due().polls
    assert feed.page_requests() == ["/story/1", "/story/2"]  # only the new one
    assert [a.title for a in poll.added["shared"]] == ["Council story 2"]
    assert poller.book.seen(feed.url) == {first.link, f"http://127.0.0.1:{feed.port}/story/2"}


def test_a_failing_feed_backs_off_is_reported_and_recovers(feed, poller, engine, clock):
    feed.publish(1)
    poller.follow(feed.url, every="10m")
    feed.fail_with = 503
    waits = []
    for _ in range(4):
        [poll] = poller.poll_due().polls
        assert poll.status == "failed" and "503" in (poll.error or "")
        row = poller.feeds()[0]
        waits.append(row.next_due - clock.now)
        clock.now = row.next_due  # exactly when it is due again
    # 10 min doubled each time: 20, 40, 80, 160 minutes (jitter is 0 here), capped at 6 h.
    assert waits == [1200, 2400, 4800, 9600]
    row = poller.feeds()[0]
    assert poller.is_failing(row) and row.failures == 4 and "503" in row.last_error
    assert titles(engine) == set()

    feed.fail_with = None
    [poll] = poller.poll_due().polls
    assert poll.status == "new"
    row = poller.feeds()[0]
    assert not poller.is_failing(row) and row.failures == 0
    assert row.next_due - clock.now == 600  # back to its interval
    assert titles(engine) == {"Council story 1"}


def test_backoff_is_capped(tmp_path, feed, clock):
    engine = fast_engine_at(tmp_path / "data", follow={"jitter": 0.0, "max_backoff_minutes": 30})
    try:
        poller = FeedPoller(engine, clock=clock)
        poller.follow(feed.url, every="10m")
        feed.fail_with = 500
        waits = []
        for _ in range(5):
            poller.poll_due()
            row = poller.feeds()[0]
            waits.append(row.next_due - clock.now)
            clock.now = row.next_due
        assert waits == [1200, 1800, 1800, 1800, 1800]
    finally:
        engine.close()


def test_a_feed_that_is_not_a_feed_fails_without_stopping_the_others(poller, engine, clock):
    good, bad = FeedServer(), FeedServer()
    try:
        good.publish(1)
        bad.garbage = True
        poller.follow(bad.url)
        poller.follow(good.url)
        report = poller.poll_due()
        status = {p.url: p.status for p in report.polls}
        assert status == {bad.url: "failed", good.url: "new"}
        assert "not a valid RSS or Atom feed" in poller.book.get(bad.url).last_error
        assert titles(engine) == {"Council story 1"}
    finally:
        good.close()
        bad.close()


def test_jitter_spreads_the_next_fetch(tmp_path, feed, clock):
    engine = fast_engine_at(tmp_path / "data", follow={"jitter": 0.1})
    try:
        poller = FeedPoller(engine, clock=clock)
        feed.publish(1)
        poller.follow(feed.url, every="1h")
        poller.poll_due()
        wait = poller.feeds()[0].next_due - clock.now
        assert 3600 * 0.9 <= wait <= 3600 * 1.1
    finally:
        engine.close()


def test_one_cycle_is_bounded(tmp_path, clock):
    engine = fast_engine_at(
        tmp_path / "data",
        follow={"jitter": 0.0, "max_feeds_per_cycle": 2, "max_entries_per_poll": 3},
    )
    servers = [FeedServer() for _ in range(3)]
    try:
        poller = FeedPoller(engine, clock=clock)
        for i, server in enumerate(servers):
            for n in range(5):
                server.publish(10 * i + n)  # texts differ: the same text is one article
            poller.follow(server.url)
        first = poller.poll_due()
        assert len(first.polls) == 2  # max_feeds_per_cycle
        assert all(len(p.added["shared"]) == 3 for p in first.polls)  # max_entries_per_poll
        second = poller.poll_due()
        assert len(second.polls) == 1  # the third feed, still due
    finally:
        for server in servers:
            server.close()
        engine.close()


def test_one_request_at_a_time_per_host(feed, poller):
    feed.page_delay_s = 0.2
    for n in range(6):
        feed.publish(n, teaser=True)
    active = 0
    most = 0
    lock = threading.Lock()
    original = feed._page

    def counting(request):  # type: ignore[no-untyped-def]
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        try:
            original(request)
        finally:
            with lock:
                active -= 1

    feed._page = counting  # type: ignore[method-assign]
    poller.follow(feed.url)
    [poll] = poller.poll_due().polls
    assert len(poll.added["shared"]) == 6
    assert most == 1


def test_two_followers_one_fetch_per_interval(feed, poller, clock):
    feed.publish(1)
    poller.follow(feed.url, collection="guild:1", every="30m")
    poller.follow(feed.url, collection="guild:2", every="10m")
    [row] = poller.feeds()
    assert row.interval_s == 600 and set(row.followers) == {"guild:1", "guild:2"}
    [poll] = poller.poll_due().polls
    assert len(feed.feed_requests()) == 1
    db = poller.engine.store.db
    [article] = db.all_articles()
    assert db.collections_of(article.id) == {"guild:1", "guild:2"}  # stored once, in both
    assert [a.id for a in poll.added["guild:1"]] == [a.id for a in poll.added["guild:2"]]
    clock.advance(601)
    poller.poll_due()
    assert len(feed.feed_requests()) == 2  # once per (shortest) interval, not once per follower
    assert poller.unfollow(feed.url, collection="guild:2")
    assert poller.feeds()[0].interval_s == 1800
    assert poller.unfollow(feed.url, collection="guild:1")
    assert poller.feeds() == []


def test_a_server_that_follows_a_feed_later_gets_its_articles_without_a_fetch(
    feed, poller, engine
):
    feed.publish(1)
    feed.publish(2, teaser=True)
    poller.follow(feed.url, collection="guild:1")
    poller.poll_due()
    fetched = (len(feed.feed_requests()), len(feed.page_requests()))
    poller.follow(feed.url, collection="guild:2")
    assert (len(feed.feed_requests()), len(feed.page_requests())) == fetched
    db = engine.store.db
    assert {a.title for a in db.articles_in("guild:2")} == {"Council story 1", "Council story 2"}
    assert {a.title for a in db.articles_in("shared")} == set()
    # Unfollowing takes nothing out of either collection.
    poller.unfollow(feed.url, collection="guild:1")
    assert len(db.articles_in("guild:1")) == 2


def test_two_processes_never_poll_one_feed_at_once(tmp_path, feed, clock):
    """Due feeds are claimed in a transaction: a second poller on the same store (cron's
    `newsbot follow` beside `newsbot run`) finds nothing due while the first one works."""
    feed.publish(1)
    first = fast_engine_at(tmp_path / "data", follow={"jitter": 0.0})
    second = fast_engine_at(tmp_path / "data", follow={"jitter": 0.0})
    try:
        a, b = FeedPoller(first, clock=clock), FeedPoller(second, clock=clock)
        a.follow(feed.url)
        claimed = a.book.claim_due(clock.now, 10, 600)
        assert [r.url for r in claimed] == [feed.url]
        assert b.poll_due().polls == []
    finally:
        first.close()
        second.close()


# -- the command line, and a process killed while polling ---------------------------------------
FAST_MAIN = (
    "import bot.engine, index.embedding;"
    "bot.engine.make_embedder = lambda settings: index.embedding.HashingEmbedder();"
    "from bot.cli import main; main()"
)


def cli(data: Path, config: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", FAST_MAIN, "--data-dir", str(data), "--config", str(config),
         *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, **kwargs,
    )


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / "test.toml"
    path.write_text(
        "[fetch]\nallow_private = true\ntimeout_s = 5\n"
        "[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n"
    )
    return path


def test_feeds_commands(tmp_path, feed, config_file, monkeypatch):
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    data = tmp_path / "data"

    def run(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(
            main_cli, ["--data-dir", str(data), "--config", str(config_file), *args]
        )

    feed.publish(1)
    feed.publish(2)
    added = run("feeds", "add", feed.url, "--every", "15m")
    assert added.exit_code == 0, added.output
    assert "every 15m" in added.output
    too_often = run("feeds", "add", feed.url, "--every", "1m")
    assert isinstance(too_often.exception, InputError) and "5 minutes" in str(too_often.exception)

    polled = run("feeds", "poll")
    assert polled.exit_code == 0, polled.output
    assert "2 added" in polled.output and "Council story 2" in polled.output

    again = run("feeds", "poll", "--all")
    assert "not modified" in again.output

    stats = run("index", "stats")
    assert "Feeds:        1 followed, 0 failing" in stats.stdout
    listed = run("feeds", "list", "--json")
    [row] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["url"] == feed.url and row["interval_s"] == 900 and not row["failing"]
    assert row["last_fetch_at"] and row["last_new_at"]
    shown = run("feeds", "list")
    assert "every 15m" in shown.stdout and "last new article: 20" in shown.stdout

    assert run("feeds", "remove", feed.url).exit_code == 0
    assert isinstance(run("feeds", "remove", feed.url).exception, InputError)
    stats = run("index", "stats", "--json")
    assert json.loads(stats.stdout)["articles"] == 2  # unfollowing keeps what was added


def test_a_bad_interval_is_one_line_from_the_real_entry_point(tmp_path, config_file):
    result = cli(tmp_path / "data", config_file, "feeds", "add", "https://example.com/rss",
                 "--every", "1m")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: every: feeds are fetched at most every 5 minutes (5m)"
    ]


def test_a_process_killed_while_polling_loses_nothing_it_reported(tmp_path, feed, config_file):
    """`newsbot follow` is killed (SIGKILL) while it reads a feed's slow pages; every article
    it had printed as added is in the store, and the next poll adds the rest."""
    data = tmp_path / "data"
    feed.page_delay_s = 0.4
    for n in range(12):
        feed.publish(n, teaser=True)
    second = FeedServer()
    try:
        for n in range(100, 103):
            second.publish(n)
        assert cli(data, config_file, "feeds", "add", second.url).returncode == 0
        assert cli(data, config_file, "feeds", "add", feed.url).returncode == 0
        process = subprocess.Popen(
            [sys.executable, "-c", FAST_MAIN, "--data-dir", str(data), "--config",
             str(config_file), "follow"],
            stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
        )
        reported: list[str] = []
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("  + "):
                reported.append(line[4:].rsplit(" (", 1)[0])
            if len(reported) == 3 or process.poll() is not None:
                break  # the first feed is reported; the slow one comes next
        deadline = time.monotonic() + 60
        while len(feed.page_requests()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Mid-poll: some of the slow feed's pages fetched, not all (12 take 4.8 s).
        assert 2 <= len(feed.page_requests()) < 12
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        process.stderr.close()
        assert sorted(reported) == ["Council story 100", "Council story 101",
                                    "Council story 102"]
        engine = fast_engine_at(data)
        try:
            stored = titles(engine)
            assert set(reported) <= stored
            engine.check()  # SQLite and FAISS agree after the kill
        finally:
            engine.close()
        feed.page_delay_s = 0.0
        resumed = cli(data, config_file, "feeds", "poll", "--all")
        assert resumed.returncode == 0, resumed.stderr
        engine = fast_engine_at(data)
        try:
            assert {f"Council story {n}" for n in range(12)} <= titles(engine)
        finally:
            engine.close()
    finally:
        second.close()


def test_a_polling_cycle_applies_retention(tmp_path, feed, clock):
    from index.models import ArticleInput, ReadResult

    engine = fast_engine_at(tmp_path / "data", index={"max_age_days": 30})
    try:
        engine.add_articles(ReadResult(articles=[ArticleInput(
            text="An old report about the harbour, published long ago, and never updated.",
            title="Old report", url="https://example.com/old", published="2001-01-01",
        )]))
        poller = FeedPoller(engine, clock=clock)
        assert poller.poll_due().expired == []  # nothing due: no cycle, no scan
        feed.publish(1)
        poller.follow(feed.url)
        report = poller.poll_due()
        assert [a.title for a in report.expired] == ["Old report"]
        assert titles(engine) == {"Council story 1"}
    finally:
        engine.close()
