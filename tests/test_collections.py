"""Collections at the store and engine level: membership, removal, isolation, names, stats,
and the migration of a store made before collections existed."""

from __future__ import annotations

import dataclasses
import re
import sqlite3

import pytest

from bot.engine import NewsEngine
from index.collections import SHARED, check_name, check_names, guild_collection
from index.errors import InputError
from index.models import ArticleInput, ReadResult
from index.search import Filters
from index.sqlite.database import Database
from index.sqlite.schema import MIGRATIONS

A, B = guild_collection(111), guild_collection(222)

STORY = (
    "The city council approved the new harbour budget on Tuesday. "
    "It includes funding for three new libraries and a bridge. "
    "The mayor said the vote was a victory for residents."
)


def item(text: str, url: str | None = None, title: str = "A title", **kw) -> ArticleInput:
    return ArticleInput(text=text, url=url, title=title, origin=url or "test", **kw)


def add(engine: NewsEngine, collection: str, *items: ArticleInput):
    return engine.add_articles(ReadResult(articles=list(items)), collection=collection)


def members(engine: NewsEngine, article_id: str) -> set[str]:
    return engine.store.db.collections_of(article_id)


def urls_found(engine: NewsEngine, query: str, collections: tuple[str, ...], **kw) -> set[str]:
    hits = engine.searcher.search(query, filters=Filters(collections=collections), **kw)
    return {h.passage.article.url for h in hits}


# -- membership ------------------------------------------------------------------------------
def test_the_same_article_in_two_collections_is_stored_and_embedded_once(backend_engine):
    first = add(backend_engine, A, item(STORY, url="https://example.com/budget"))
    (article,) = first.added
    articles, passages = backend_engine.store.db.counts()
    generation = backend_engine.store.db.generation()
    embedded: list[str] = []
    original = backend_engine.embedder.embed

    def spy(texts, **kw):
        embedded.extend(texts)
        return original(texts, **kw)

    backend_engine.embedder.embed = spy  # type: ignore[method-assign]
    second = add(backend_engine, B, item(STORY, url="https://example.com/budget"))
    assert [a.id for a in second.unchanged] == [article.id] and not second.added
    assert members(backend_engine, article.id) == {A, B}
    assert backend_engine.store.db.counts() == (articles, passages)
    assert embedded == []  # no passage embedded again
    assert backend_engine.store.db.generation() == generation  # no new vector file either


def test_index_add_writes_the_shared_collection_by_default(backend_engine):
    report = backend_engine.add_articles(ReadResult(articles=[item(STORY, url="https://e.com/1")]))
    assert members(backend_engine, report.added[0].id) == {SHARED}


def test_a_server_cannot_rewrite_an_article_another_collection_holds(backend_engine):
    url = "https://example.com/budget"
    (article,) = add(backend_engine, A, item(STORY, url=url)).added
    forged = add(backend_engine, B, item("Forged text: the council was dissolved.", url=url,
                                      title="Forged"))
    # B's text is B's own article (tests/test_url_isolation.py); A's stays as A stored it.
    (own_b,) = forged.added
    assert own_b.id != article.id and forged.skipped == []
    stored = backend_engine.store.find(url, A)
    assert stored.text == STORY and stored.title == "A title"
    assert members(backend_engine, article.id) == {A}
    assert members(backend_engine, own_b.id) == {B}
    # The shared collection's change of a copy it holds with A is its own copy; A may update
    # the one it alone holds.
    add(backend_engine, SHARED, item(STORY, url=url))
    changed = STORY.replace("three", "four")
    assert add(backend_engine, SHARED, item(changed, url=url)).updated
    assert backend_engine.store.find(url, SHARED).text == changed
    assert backend_engine.store.find(url, A).text == STORY
    (own,) = add(backend_engine, A, item("Only A holds this one.", url="https://e.com/a")).added
    assert add(backend_engine, A, item("Only A holds this one, corrected.", url=own.url)).updated


# -- removal ---------------------------------------------------------------------------------
def test_removing_from_one_collection_keeps_the_article_for_the_others(backend_engine):
    url = "https://example.com/budget"
    (article,) = add(backend_engine, A, item(STORY, url=url)).added
    add(backend_engine, B, item(STORY, url=url))
    add(backend_engine, SHARED, item(STORY, url=url))
    vectors = backend_engine.store.vector_index().size

    report = backend_engine.remove([url], collection=A)
    assert [a.id for a in report.removed] == [article.id] and report.deleted == []
    assert members(backend_engine, article.id) == {B, SHARED}
    assert backend_engine.store.vector_index().size == vectors
    assert urls_found(backend_engine, "harbour budget", (A,)) == set()
    assert urls_found(backend_engine, "harbour budget", (B,)) == {url}

    # Not in A any more: not found there, whoever else holds it.
    again = backend_engine.remove([url, article.id], collection=A)
    assert again.removed == [] and again.not_found == [url, article.id]

    backend_engine.remove([url], collection=B)
    last = backend_engine.remove([article.id], collection=SHARED)
    assert [a.id for a in last.deleted] == [article.id]
    assert backend_engine.store.find(url) is None
    assert backend_engine.store.vector_index().size == 0
    assert backend_engine.store.db.counts() == (0, 0)


def test_a_server_cannot_remove_another_servers_article(backend_engine):
    (article,) = add(backend_engine, B, item(STORY, url="https://example.com/b")).added
    report = backend_engine.remove(["https://example.com/b", article.id], collection=A)
    assert report.removed == [] and len(report.not_found) == 2
    assert members(backend_engine, article.id) == {B}


def test_rebuilding_a_collection_recuts_only_its_articles(backend_engine):
    (a,) = add(backend_engine, A, item(STORY, url="https://e.com/a")).added
    (b,) = add(backend_engine, B, item("Floods closed the river road on Monday.",
                                    url="https://e.com/b")).added
    db = backend_engine.store.db
    b_ids = db.passage_ids_of(db.connection(), b.id)
    a_ids = db.passage_ids_of(db.connection(), a.id)
    report = backend_engine.rebuild(collection=A)
    assert report.articles == 1
    assert db.passage_ids_of(db.connection(), b.id) == b_ids  # B untouched
    assert set(db.passage_ids_of(db.connection(), a.id)).isdisjoint(a_ids)  # A re-cut
    index = backend_engine.store.vector_index()
    assert sorted(index.ids().tolist()) == db.all_passage_ids()


# -- search isolation ------------------------------------------------------------------------
def test_a_question_sees_only_the_collections_it_searches(backend_engine):
    add(backend_engine, A, item("The harbour bridge reopened on Monday after repairs.",
                             url="https://a.example.com/bridge"))
    add(backend_engine, B, item("The harbour bridge reopened on Monday, said officials.",
                             url="https://b.example.com/bridge"))
    add(backend_engine, SHARED, item("The harbour bridge reopening drew crowds on Monday.",
                                  url="https://shared.example.com/bridge"))
    query = "When did the harbour bridge reopen?"
    assert urls_found(backend_engine, query, (A,)) == {"https://a.example.com/bridge"}
    assert urls_found(backend_engine, query, (A, SHARED)) == {
        "https://a.example.com/bridge", "https://shared.example.com/bridge"}
    answer = backend_engine.ask(query, collections=[B, SHARED])
    cited = {c.url for c in answer.citations} | {r.url for r in answer.retrieved}
    assert "https://a.example.com/bridge" not in cited
    assert "https://b.example.com/bridge" in cited
    default = backend_engine.ask(query)  # the shared collection only
    assert {r.url for r in default.retrieved} == {"https://shared.example.com/bridge"}


def test_the_collection_filter_is_applied_inside_both_searches(tmp_path, hashing_embedder):
    """With only 5 candidates from each search, a collection whose one article is outranked
    by 40 articles of another collection still finds it: a filter applied after a fixed top-k
    would find nothing."""
    from tests.conftest import make_fast_config

    config = make_fast_config(tmp_path / "data", search={"candidates": 5})
    engine = NewsEngine(config, embedder=hashing_embedder)
    try:
        add(engine, B, *[
            item(f"Harbour bridge harbour bridge reopened, report {i}: harbour bridge traffic.",
                 url=f"https://b.example.com/{i}")
            for i in range(40)
        ])
        add(engine, A, item("Officials said the harbour bridge would reopen in spring.",
                            url="https://a.example.com/only"))
        db = engine.store.db
        where = db.passage_filter((A,))
        lexical = db.lexical_search(["harbour", "bridge"], 5, where)
        assert [db.passages([pid])[pid].article.url for pid, _ in lexical] == [
            "https://a.example.com/only"]
        qvec = engine.embedder.embed(["harbour bridge reopened"])[0]
        dense = engine.store.vector_index().search(qvec, 5, db.passage_ids(where))
        assert len(dense) == 1
        assert urls_found(engine, "harbour bridge reopened", (A,)) == {
            "https://a.example.com/only"}
    finally:
        engine.close()


# -- names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["", "Shared", "with space", "guild:abc", "x" * 65,
                                 "caf\u00e9", "bad\udcff", ";drop"])
def test_bad_collection_names_are_refused_with_one_line(bad):
    with pytest.raises(InputError) as exc:
        check_name(bad)
    assert "\n" not in str(exc.value)


def test_good_names_and_the_default():
    assert check_name("guild:123") == "guild:123" and check_name("local-news.2") == "local-news.2"
    assert check_names(None) == (SHARED,)
    assert check_names(["guild:1", "shared", "guild:1"]) == ("guild:1", "shared")


def test_the_engine_refuses_a_bad_collection_name(fast_engine):
    with pytest.raises(InputError):
        fast_engine.ask("Who won?", collections=["Not A Name"])
    with pytest.raises(InputError):
        add(fast_engine, "guild:x", item(STORY))


# -- stats -----------------------------------------------------------------------------------
def test_stats_per_collection_count_articles_passages_and_the_last_ingest(fast_engine):
    add(fast_engine, A, item(STORY, url="https://e.com/1"), item("   "))
    add(fast_engine, B, item(STORY, url="https://e.com/1"),
        item("Floods closed the river road on Monday.", url="https://e.com/2"))
    stats = {c.name: c for c in fast_engine.stats().collections}
    assert set(stats) == {A, B}
    assert (stats[A].articles, stats[B].articles) == (1, 2)
    assert stats[A].only_here == 0 and stats[B].only_here == 1
    assert stats[B].passages > stats[A].passages > 0
    last = stats[A].last_ingest
    assert (last.added, last.skipped) == (1, 1) and last.skipped_reasons == ["test: no text"]
    assert stats[B].last_ingest.unchanged == 1 and stats[B].last_ingest.added == 1
    assert stats[A].size_bytes > 0
    only_a = fast_engine.stats([A])
    assert [c.name for c in only_a.collections] == [A]


# -- migration -------------------------------------------------------------------------------
COLLECTIONS_MIGRATION = next(i for i, (name, _) in enumerate(MIGRATIONS)
                             if name.endswith("_collections"))


def _downgrade(path) -> None:
    """Make a store exactly as the code before collections left it: the migrations before
    the collections one, no collection tables, no record of that migration."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TABLE article_collections; DROP TABLE ingests;"
        f" DELETE FROM _migrations WHERE name = '{MIGRATIONS[COLLECTIONS_MIGRATION][0]}';"
    )
    # ... nor the migrations that came after it (their tables, newest first).
    for name, sql in reversed(MIGRATIONS[COLLECTIONS_MIGRATION + 1:]):
        if name == "008_article_url_not_unique":
            _restore_unique_urls(conn)
            conn.execute("DELETE FROM _migrations WHERE name = ?", (name,))
            continue
        for table in reversed(re.findall(r"CREATE TABLE (\w+)", sql)):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM _migrations WHERE name = ?", (name,))
    conn.commit()
    conn.close()


def _restore_unique_urls(conn: sqlite3.Connection) -> None:
    """The articles table as 001 and 003 made it (url UNIQUE), every row kept."""
    first = MIGRATIONS[0][1]
    create = re.search(r"CREATE TABLE articles \(.*?\n        \);", first, re.S).group(0)
    indexes = re.findall(r"CREATE INDEX articles_\w+ ON articles \(\w+\);", first)
    conn.executescript(
        "CREATE TABLE articles_keep AS SELECT * FROM articles; DROP TABLE articles;"
        f" {create} {' '.join(indexes)} ALTER TABLE articles ADD COLUMN origin TEXT;"
        " INSERT INTO articles SELECT * FROM articles_keep; DROP TABLE articles_keep;"
    )


def _schema(path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'passages_fts_%'"
    ).fetchall()
    conn.close()
    return {(n, " ".join((s or "").split())) for n, s in rows}


def test_an_old_store_migrates_in_place_and_answers_as_before(
    tmp_path, fast_config, hashing_embedder, monkeypatch
):
    # The schema of a store made before collections: the migrations before it only.
    old_schema_db = tmp_path / "old-schema.sqlite3"
    monkeypatch.setattr("index.sqlite.database.MIGRATIONS", MIGRATIONS[:COLLECTIONS_MIGRATION])
    Database(old_schema_db).close()
    monkeypatch.setattr("index.sqlite.database.MIGRATIONS", MIGRATIONS)

    engine = NewsEngine(fast_config, embedder=hashing_embedder)
    engine.add_articles(ReadResult(articles=[
        item(STORY, url="https://example.com/budget", title="Budget passes"),
        item("Floods closed the river road on Monday. Crews worked overnight.",
             url="https://example.com/floods", title="Floods"),
    ]))
    question = "When did the city council approve the new harbour budget?"
    before = engine.ask(question, as_of="2025-01-01")
    assert before.answered
    engine.close()
    path = fast_config.store.data_dir / "news.sqlite3"
    _downgrade(path)
    assert _schema(path) == _schema(old_schema_db)  # what the old code would have left

    reopened = NewsEngine(fast_config, embedder=hashing_embedder)
    try:
        after = reopened.ask(question, as_of="2025-01-01")
        assert after.answered and after.answer == before.answer
        assert [c.url for c in after.citations] == [c.url for c in before.citations]
        for a in reopened.store.db.all_articles():
            assert members(reopened, a.id) == {SHARED}
        assert reopened.collections() == [SHARED]
        assert dataclasses.replace(after, latency_ms=0) == dataclasses.replace(
            before, latency_ms=0)
    finally:
        reopened.close()


# -- the command line ------------------------------------------------------------------------
def _cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import cli
    from index.embedding import HashingEmbedder

    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "fast.toml"
    config.write_text("[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n")
    data = tmp_path / "data"

    def run(*args: str):
        return CliRunner().invoke(
            cli, ["--data-dir", str(data), "--config", str(config), *args]
        )

    return run


def test_the_cli_takes_a_collection_on_index_and_ask_commands(tmp_path, monkeypatch):
    import json

    run = _cli(tmp_path, monkeypatch)
    story = tmp_path / "local.md"
    story.write_text("---\ntitle: Harbour budget\nurl: https://e.com/harbour\n---\n"
                     f"{STORY}\n")
    shared = tmp_path / "shared.md"
    shared.write_text("---\ntitle: Floods\nurl: https://e.com/floods\n---\n"
                      "Floods closed the river road on Monday. Crews worked overnight.\n")
    assert run("index", "add", str(shared)).exit_code == 0
    result = run("index", "add", "--collection", "local", str(story))
    assert result.exit_code == 0 and "1 added" in result.output, result.output

    asked = json.loads(run("ask", "--json", "What did the council approve?").output)
    assert {r["url"] for r in asked["retrieved"]} == {"https://e.com/floods"}  # shared only
    asked = json.loads(run("ask", "--json", "--collection", "local", "--collection", "shared",
                           "What did the council approve?").output)
    assert {r["url"] for r in asked["retrieved"]} == {"https://e.com/floods",
                                                     "https://e.com/harbour"}

    stats = json.loads(run("index", "stats", "--json").output)
    by_name = {c["name"]: c for c in stats["collections"]}
    assert by_name["local"]["articles"] == 1 and by_name["shared"]["articles"] == 1
    assert by_name["local"]["last_ingest"]["added"] == 1
    text = run("index", "stats", "--collection", "local").output
    assert "Collection local" in text and "Collection shared" not in text

    assert run("index", "remove", "https://e.com/harbour").exit_code == 1  # not in shared
    assert run("index", "rebuild", "--collection", "local").exit_code == 0
    result = run("index", "remove", "--collection", "local", "https://e.com/harbour")
    assert result.exit_code == 0 and "Removed 1" in result.output


@pytest.mark.parametrize("args", [
    ("index", "add", "--collection", "Bad Name", "x.md"),
    ("ask", "--collection", "guild:abc", "Who won?"),
    ("index", "remove", "--collection", "", "x"),
    ("index", "stats", "--collection", "UPPER"),
    ("index", "rebuild", "--collection", "a b"),
])
def test_a_bad_collection_name_on_the_cli_is_one_line(tmp_path, monkeypatch, args):
    run = _cli(tmp_path, monkeypatch)
    result = run(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError) and "collection" in str(result.exception)
    assert not (tmp_path / "data").exists()  # refused before a store was opened


def test_asking_a_collection_that_does_not_exist_names_the_ones_that_do(tmp_path, monkeypatch):
    run = _cli(tmp_path, monkeypatch)
    story = tmp_path / "a.md"
    story.write_text(f"---\ntitle: Budget\n---\n{STORY}\n")
    assert run("index", "add", str(story)).exit_code == 0
    result = run("ask", "--collection", "nosuch", "Who won?")
    assert isinstance(result.exception, InputError)
    assert "no collection named 'nosuch' (collections: shared)" in str(result.exception)


def test_a_membership_change_without_new_vectors_is_seen_by_the_next_question(fast_engine):
    """Joining or leaving a collection writes no vectors (the generation stays), yet what
    searches keep about collections must follow it."""
    url = "https://a.example.com/bridge"
    add(fast_engine, SHARED, item(STORY, url="https://e.com/shared"))
    add(fast_engine, A, item("The harbour bridge reopened on Monday after repairs.", url=url))
    query = "When did the harbour bridge reopen?"
    assert urls_found(fast_engine, query, (B,)) == set()
    generation = fast_engine.store.db.generation()
    add(fast_engine, B, item("The harbour bridge reopened on Monday after repairs.", url=url))
    assert fast_engine.store.db.generation() == generation
    assert urls_found(fast_engine, query, (B,)) == {url}
    db = fast_engine.store.db
    passages = db.passage_ids_of(db.connection(), fast_engine.store.find(url).id)
    # the ids the vector search is given, not only the full-text search's SQL
    assert fast_engine.searcher._scope((B,), fast_engine.searcher._cache())[1] == passages
    fast_engine.remove([url], collection=B)
    assert urls_found(fast_engine, query, (B,)) == set()
    assert fast_engine.searcher._scope((B,), fast_engine.searcher._cache())[1] == []


def test_no_filter_is_applied_when_the_collections_hold_every_article(fast_engine):
    """A store whose articles are all shared (every store made before collections) searches
    exactly as before: no id selector, no FTS5 clause."""
    add(fast_engine, SHARED, item(STORY, url="https://e.com/1"))
    searcher = fast_engine.searcher
    cache = searcher._cache()
    assert searcher._scope((SHARED,), cache) == (None, None)
    add(fast_engine, A, item("Floods closed the river road on Monday.", url="https://e.com/2"))
    scope, ids = searcher._scope((SHARED,), searcher._cache())
    assert scope == (SHARED,) and ids == fast_engine.store.db.passage_ids_of(
        fast_engine.store.db.connection(), fast_engine.store.find("https://e.com/1").id)


def test_a_small_collection_in_an_approximate_index_is_searched_exactly(
    tmp_path, hashing_embedder
):
    """IVF probes a few lists; with an id selector, a small collection's passages in the
    other lists are never seen. Its own vectors are searched instead, so every one of its
    passages can be found."""
    from tests.conftest import make_fast_config

    config = make_fast_config(
        tmp_path / "data", index={"type": "ivf", "ivf_nlist": 16, "ivf_nprobe": 1}
    )
    engine = NewsEngine(config, embedder=hashing_embedder)
    try:
        topics = ["harbour", "budget", "floods", "election", "vaccine", "railway", "drought"]
        add(engine, B, *[
            item(f"Report {i} on the {topics[i % 7]} and the {topics[(i * 3) % 7]} today.",
                 url=f"https://b.example.com/{i}")
            for i in range(400)
        ])
        own = [item(f"A's note {i}: the {topics[i]} story, as this server saw it.",
                    url=f"https://a.example.com/{i}") for i in range(7)]
        add(engine, A, *own)
        assert engine.store.vector_index().kind == "ivf"
        db = engine.store.db
        mine = set(db.passage_ids(db.passage_filter((A,))))
        qvec = engine.embedder.embed(["the harbour story"])[0]
        searcher = engine.searcher
        dense = searcher._dense_in_scope(
            engine.store.vector_index(), qvec, 50, sorted(mine), Filters(collections=(A,)),
            searcher._cache(),
        )
        assert {pid for pid, _ in dense} == mine
    finally:
        engine.close()
