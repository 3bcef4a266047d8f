"""A collection only ever gains an article from what it supplied or fetched itself: naming
another collection's URL (in a file's front matter, a JSONL line or a followed feed's item)
stores the newcomer's own text apart, never joins it to the other's copy. Store-level tests run
against both backends; the command-line ones go through `newsbot` itself (SQLite)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from index.search import Filters
from index.sqlite.database import Database
from index.sqlite.schema import MIGRATIONS
from tests.test_following import FeedServer

URL = "https://intranet.example/private/zephyrion"
ALPHA_TEXT = (
    "The Zephyrion copper mine in Norland closed on Friday, the owner Quarrix Mining said. "
    "All 412 workers at the Zephyrion mine were told in a private meeting that the mine "
    "would not reopen. Quarrix said the copper price had fallen too far."
)
ALPHA_WORDS = ("Quarrix", "412", "private meeting")
BETA_TEXT = (
    "The Zephyrion copper mine in Norland will stay open, the regional council said. "
    "Councillors voted to support the Zephyrion mine with a loan of six million. "
    "The council said the loan would be repaid within ten years."
)
BETA_WORDS = ("loan of six million", "regional council")
QUESTION = "What happened at the Zephyrion copper mine?"


def item(text: str, url: str | None = URL, title: str | None = "Zephyrion mine",
         **kw) -> ArticleInput:
    return ArticleInput(text=text, url=url, title=title, origin=kw.pop("origin", "test"), **kw)


def add(engine: NewsEngine, collection: str, *items: ArticleInput):
    return engine.add_articles(ReadResult(articles=list(items)), collection=collection)


def texts_found(engine: NewsEngine, collection: str, query: str = QUESTION) -> set[str]:
    hits = engine.searcher.search(query, filters=Filters(collections=(collection,)))
    return {h.passage.article.text for h in hits}


def assert_only_own(engine: NewsEngine, collection: str, own: str, other: str) -> None:
    """Everything `collection` is answered from, cites and lists is its own text."""
    assert texts_found(engine, collection) == {own}
    answer = engine.ask(QUESTION, collections=[collection], as_of="2025-01-01")
    shown = json.dumps(answer.to_json(), ensure_ascii=False)
    for word in (ALPHA_WORDS if other == ALPHA_TEXT else BETA_WORDS):
        assert word not in shown, (word, shown)
    assert [a.text for a in engine.store.db.articles_in(collection)] == [own]


# -- the store, on both backends -------------------------------------------------------------
def table_rows(db, tables: tuple[str, ...]) -> dict[str, list]:
    """Every row of each table (SQLite or PostgreSQL store), in a stable order."""
    return {t: db.connection().execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in tables}


def test_different_text_under_another_collections_url_is_stored_apart(backend_engine):
    (alpha,) = add(backend_engine, "alpha", item(ALPHA_TEXT)).added
    beta_report = add(backend_engine, "beta", item(BETA_TEXT, title="Mine stays open"))
    (beta,) = beta_report.added
    assert beta.id != alpha.id and beta.url == URL and beta_report.skipped == []
    db = backend_engine.store.db
    assert db.collections_of(alpha.id) == {"alpha"} and db.collections_of(beta.id) == {"beta"}
    assert db.article_by_id(alpha.id).text == ALPHA_TEXT  # alpha's copy untouched
    assert backend_engine.store.find(URL, "beta").text == BETA_TEXT
    assert backend_engine.store.find(URL, "alpha").text == ALPHA_TEXT
    assert_only_own(backend_engine, "beta", BETA_TEXT, ALPHA_TEXT)
    assert_only_own(backend_engine, "alpha", ALPHA_TEXT, BETA_TEXT)

    # Counted per collection: one article each, held by no other.
    stats = {c.name: c for c in backend_engine.stats().collections}
    assert stats["alpha"].articles == 1 and stats["alpha"].only_here == 1
    assert stats["beta"].articles == 1 and stats["beta"].only_here == 1

    # Adding it again changes nothing; beta's own update stays beta's.
    again = add(backend_engine, "beta", item(BETA_TEXT, title="Mine stays open"))
    assert [a.id for a in again.unchanged] == [beta.id] and not again.added
    fixed = BETA_TEXT.replace("six", "seven")
    (updated,) = add(backend_engine, "beta", item(fixed, title="Mine stays open")).updated
    assert updated.id == beta.id and db.article_by_id(alpha.id).text == ALPHA_TEXT

    # Removing beta's leaves alpha's whole, and the other way round.
    report = backend_engine.remove([URL], collection="beta")
    assert [a.id for a in report.deleted] == [beta.id]
    assert backend_engine.store.find(URL, "alpha").text == ALPHA_TEXT
    assert texts_found(backend_engine, "alpha") == {ALPHA_TEXT}
    assert texts_found(backend_engine, "beta") == set()
    report = backend_engine.remove([URL], collection="alpha")
    assert [a.id for a in report.deleted] == [alpha.id]
    assert backend_engine.store.db.counts() == (0, 0)


def test_the_same_text_with_other_details_is_not_joined(backend_engine):
    """Identical text under the URL, but another title (or none, or no URL): joining would
    show the newcomer the first collection's title, URL or file name."""
    (alpha,) = add(backend_engine, "alpha", item(ALPHA_TEXT, title="Secret: mine closes")).added
    (retitled,) = add(backend_engine, "beta", item(ALPHA_TEXT, title="Mine news")).added
    (no_url,) = add(backend_engine, "gamma", item(ALPHA_TEXT, url=None)).added
    (untitled,) = add(backend_engine, "delta", item(ALPHA_TEXT, title=None,
                                                    origin="delta.txt")).added
    assert len({alpha.id, retitled.id, no_url.id, untitled.id}) == 4
    assert no_url.url is None and untitled.display_title == "Untitled article (delta.txt)"
    for name, article in (("beta", retitled), ("gamma", no_url), ("delta", untitled)):
        assert backend_engine.store.db.collections_of(article.id) == {name}
        answer = backend_engine.ask(QUESTION, collections=[name], as_of="2025-01-01")
        assert "Secret" not in json.dumps(answer.to_json())
    # Exactly what another collection stored: shared, stored and embedded once.
    joined = add(backend_engine, "epsilon", item(ALPHA_TEXT, title="Secret: mine closes"))
    assert [a.id for a in joined.unchanged] == [alpha.id] and not joined.added
    assert backend_engine.store.db.collections_of(alpha.id) == {"alpha", "epsilon"}


def test_an_update_by_one_holder_leaves_the_others_copy_as_it_is(backend_engine):
    """Two collections supplied the same article; one (the shared one too) changes it: it gets
    its own copy with the new text, the other keeps what it supplied."""
    (both,) = add(backend_engine, "alpha", item(ALPHA_TEXT)).added
    add(backend_engine, "shared", item(ALPHA_TEXT))
    db = backend_engine.store.db
    assert db.collections_of(both.id) == {"alpha", "shared"}
    (mine,) = add(backend_engine, "shared", item(BETA_TEXT)).updated
    assert mine.id != both.id and mine.text == BETA_TEXT
    assert db.collections_of(both.id) == {"alpha"} and db.collections_of(mine.id) == {"shared"}
    assert db.article_by_id(both.id).text == ALPHA_TEXT
    assert_only_own(backend_engine, "alpha", ALPHA_TEXT, BETA_TEXT)
    assert_only_own(backend_engine, "shared", BETA_TEXT, ALPHA_TEXT)
    index = backend_engine.store.vector_index()
    assert sorted(index.ids().tolist()) == db.all_passage_ids()


# -- an existing store -----------------------------------------------------------------------
def test_a_store_with_unique_urls_migrates_keeping_everything(tmp_path, fast_config,
                                                              hashing_embedder, monkeypatch):
    before = [m for m in MIGRATIONS if m[0] != "008_article_url_not_unique"]
    assert len(before) == len(MIGRATIONS) - 1
    monkeypatch.setattr("index.sqlite.database.MIGRATIONS", before)
    engine = NewsEngine(fast_config, embedder=hashing_embedder)
    (alpha,) = add(engine, "alpha", item(ALPHA_TEXT)).added
    add(engine, "shared", item(ALPHA_TEXT))
    add(engine, "beta", item(BETA_TEXT, url="https://e.com/other"))
    rows = table_rows(engine.store.db,
                      ("articles", "passages", "article_collections", "story_members"))
    answer = engine.ask(QUESTION, collections=["alpha"], as_of="2025-01-01")
    engine.close()
    monkeypatch.setattr("index.sqlite.database.MIGRATIONS", MIGRATIONS)

    engine = NewsEngine(fast_config, embedder=hashing_embedder)
    try:
        db = engine.store.db
        assert table_rows(db, tuple(rows)) == rows
        assert db.connection().execute("PRAGMA foreign_key_check").fetchall() == []
        assert engine.ask(QUESTION, collections=["alpha"], as_of="2025-01-01").answer == (
            answer.answer)
        # The URL is no longer unique, and deleting still cascades to the passages.
        (beta,) = add(engine, "gamma", item(BETA_TEXT)).added
        assert beta.id != alpha.id
        engine.remove([URL], collection="gamma")
        assert db.passage_ids_of(db.connection(), beta.id) == []
        assert db.collections_of(alpha.id) == {"alpha", "shared"}
    finally:
        engine.close()
    raw = sqlite3.connect(fast_config.store.data_dir / "news.sqlite3")
    assert raw.execute("SELECT name FROM _migrations WHERE name LIKE '008%'").fetchall()
    raw.close()
    Database(fast_config.store.data_dir / "news.sqlite3").close()  # runs nothing twice


# -- the command line ------------------------------------------------------------------------
@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "fast.toml"
    config.write_text("[fetch]\nallow_private = true\ntimeout_s = 5\n"
                      "[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n")
    data = tmp_path / "data"

    def run(*args: str):  # type: ignore[no-untyped-def]
        result = CliRunner().invoke(cli, ["--data-dir", str(data), "--config", str(config),
                                          *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    return run


def markdown(path, text: str, url: str = URL, title: str = "Zephyrion mine"):
    path.write_text(f"---\ntitle: {title}\nurl: {url}\n---\n{text}\n")
    return str(path)


def assert_cli_isolated(run, collection: str, own_words: tuple[str, ...]) -> None:
    asked = run("ask", "--json", "--collection", collection, QUESTION)
    for word in ALPHA_WORDS:
        assert word not in asked, (word, asked)
    for word in own_words:
        assert word in asked
    stats = json.loads(run("index", "stats", "--json"))
    by_name = {c["name"]: c for c in stats["collections"]}
    assert by_name[collection]["articles"] == 1 and by_name["alpha"]["articles"] == 1
    assert by_name["alpha"]["only_here"] == 1


def test_cli_a_file_naming_another_collections_url_gets_its_own_article(tmp_path, run):
    run("index", "add", "--collection", "alpha", markdown(tmp_path / "a.md", ALPHA_TEXT))
    added = run("index", "add", "--collection", "beta", markdown(tmp_path / "b.md", BETA_TEXT))
    assert_cli_isolated(run, "beta", BETA_WORDS)
    assert "1 added" in added and "another collection" not in added
    run("index", "remove", "--collection", "beta", URL)
    assert "Quarrix" in run("ask", "--json", "--collection", "alpha", QUESTION)


def test_cli_a_jsonl_line_naming_another_collections_url_gets_its_own_article(tmp_path, run):
    run("index", "add", "--collection", "alpha", markdown(tmp_path / "a.md", ALPHA_TEXT))
    lines = tmp_path / "b.jsonl"
    lines.write_text(json.dumps({"title": "Mine stays open", "url": URL, "text": BETA_TEXT})
                     + "\n")
    added = run("index", "add", "--collection", "beta", str(lines))
    assert_cli_isolated(run, "beta", BETA_WORDS)
    assert "1 added" in added


def test_cli_a_followed_feed_item_linking_to_another_collections_url_is_fetched(tmp_path, run):
    feed = FeedServer()
    try:
        entry = feed.publish(1, teaser=True)  # its text is the linked page's
        run("index", "add", "--collection", "alpha",
            markdown(tmp_path / "a.md", ALPHA_TEXT, url=entry.link))
        run("feeds", "add", "--collection", "gamma", feed.url)
        polled = run("feeds", "poll")
        assert_cli_isolated(run, "gamma", ("page project 1",))
        assert "1 added" in polled
        assert feed.page_requests() == ["/story/1"]  # fetched for gamma, not taken from alpha
        # `index add --feed` reads the entry itself as well.
        run("index", "add", "--collection", "delta", "--feed", feed.url)
        assert_cli_isolated(run, "delta", ("page project 1",))
    finally:
        feed.close()


def test_a_postgres_store_with_unique_urls_migrates_keeping_everything(
    tmp_path, pg_url, hashing_embedder, monkeypatch
):
    from index.postgres.schema import MIGRATIONS as PG_MIGRATIONS
    from tests.conftest import backend_config

    before = [m for m in PG_MIGRATIONS if m[0] != "003_article_url_not_unique"]
    assert len(before) == len(PG_MIGRATIONS) - 1
    config = backend_config("postgres", tmp_path / "data", pg_url)
    monkeypatch.setattr("index.postgres.database.MIGRATIONS", before)
    engine = NewsEngine(config, embedder=hashing_embedder)
    (alpha,) = add(engine, "alpha", item(ALPHA_TEXT)).added
    add(engine, "shared", item(ALPHA_TEXT))
    rows = table_rows(engine.store.db, ("articles", "article_collections"))
    engine.close()
    monkeypatch.setattr("index.postgres.database.MIGRATIONS", PG_MIGRATIONS)

    engine = NewsEngine(config, embedder=hashing_embedder)
    try:
        db = engine.store.db
        assert table_rows(db, tuple(rows)) == rows
        (beta,) = add(engine, "beta", item(BETA_TEXT)).added
        assert beta.id != alpha.id and db.collections_of(alpha.id) == {"alpha", "shared"}
        assert_only_own(engine, "beta", BETA_TEXT, ALPHA_TEXT)
    finally:
        engine.close()


def test_a_feed_followed_by_two_servers_never_hands_one_the_others_copy(tmp_path):
    """guild:1 uploaded its own text under an entry's link; guild:2 follows the same feed:
    it gets the fetched page, guild:1 keeps its own, and a server that follows later is handed
    the fetched page, never guild:1's copy."""
    from bot.feeds.following import FeedPoller
    from tests.test_following import Clock, fast_engine_at

    feed = FeedServer()
    engine = fast_engine_at(tmp_path / "data", follow={"jitter": 0.0})
    try:
        entry = feed.publish(1, teaser=True)
        (private,) = add(engine, "guild:1", item(ALPHA_TEXT, url=entry.link)).added
        poller = FeedPoller(engine, clock=Clock())
        poller.follow(feed.url, collection="guild:1")
        poller.follow(feed.url, collection="guild:2")
        [poll] = poller.poll_due().polls
        assert feed.page_requests() == ["/story/1"]
        assert poll.added.get("guild:1", []) == []  # it already held the link
        (fetched,) = poll.added["guild:2"]
        db = engine.store.db
        assert fetched.id != private.id and "page project 1" in fetched.text
        assert db.collections_of(private.id) == {"guild:1"}
        assert db.article_by_id(private.id).text == ALPHA_TEXT
        poller.follow(feed.url, collection="guild:3")
        assert [a.text for a in db.articles_in("guild:3")] == [fetched.text]
        for name in ("guild:2", "guild:3"):
            answer = engine.ask(QUESTION, collections=[name], as_of="2025-01-01")
            assert "Quarrix" not in json.dumps(answer.to_json())
    finally:
        engine.close()
        feed.close()
