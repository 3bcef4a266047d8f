"""One story, many copies: copies are grouped at index time, answers cite one and name the
others (index/stories.py, bot/reader/copies.py). The deterministic test embedder; real SQLite and
FAISS."""

from __future__ import annotations

import json
import random

from click.testing import CliRunner

from bot.cli import cli
from bot.discord_app.render.answers import render_answer
from bot.engine import NewsEngine
from index import stories
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from index.sqlite.database import Database

WIRE = (
    "A powerful storm swept across the northern coast of Ireland on Saturday, cutting power to "
    "more than 80,000 homes and closing the port of Larne for the whole day. Forecasters at Met "
    "Eireann said gusts reached 130 kilometres an hour near Malin Head, the strongest recorded "
    "there in a decade. Ferries between Larne and Cairnryan were cancelled and hundreds of "
    "passengers spent the night in the terminal. Engineers from the power company worked "
    "through the night to restore supplies, and by Sunday morning about half of the homes had "
    "electricity again. The storm is expected to move east toward Scotland on Monday, where "
    "schools in Argyll have already announced closures. Farmers reported fallen trees and "
    "damaged barns across County Antrim, and the regional government promised emergency grants "
    "for the worst affected families."
)
OTHER = (
    "The central bank of Chile raised its benchmark interest rate by half a point on Thursday, "
    "to 6.5 percent, citing stubborn inflation in food and energy prices. Economists had "
    "expected a smaller increase. The bank's governor told reporters that further rises were "
    "possible if prices kept climbing through the winter, and the peso strengthened against "
    "the dollar after the announcement. Retailers warned that higher borrowing costs would "
    "weigh on spending before the holiday season."
)


def copy_of(text: str, head: str = "", tail: str = "") -> str:
    return " ".join(x for x in (head, text, tail) if x)


def add(engine: NewsEngine, *items: ArticleInput):
    return engine.add_articles(ReadResult(articles=list(items)))


def art(text: str, url: str, source: str | None, published: str, title: str) -> ArticleInput:
    return ArticleInput(
        text=text, url=url, source=source, published=published, title=title, origin=url
    )


AP = art(WIRE, "https://apnews.com/storm", "AP", "2025-03-01", "Storm cuts power in Ireland")
REUTERS = art(
    copy_of(WIRE, "LONDON (Reuters) -", "Reporting by Jane Doe; editing by John Roe."),
    "https://reuters.com/storm", "Reuters", "2025-03-01", "Storm hits Irish coast",
)
# An updated version: the same story with a new paragraph and a new first line.
UPDATE = art(
    copy_of(
        WIRE.replace("by Sunday morning about half", "by Sunday evening nearly all"),
        "Updated Sunday.",
        "On Sunday evening the port of Larne reopened and the first ferries sailed again.",
    ),
    "https://www.localpaper.ie/news/storm-update", None, "2025-03-02",
    "Storm: power back for most homes",
)
BANK = art(OTHER, "https://example.com/chile", "Example News", "2025-03-01", "Chile raises rates")


def story_of(engine: NewsEngine) -> dict[str, str]:
    """url -> story id."""
    conn = engine.store.db.connection()
    return dict(conn.execute(
        "SELECT a.url, s.story_id FROM story_members s JOIN articles a ON a.id = s.article_id"
    ).fetchall())


# -- grouping -------------------------------------------------------------------------------
def test_copies_and_updates_are_one_story_and_other_news_is_not():
    wire = stories.signature(WIRE)
    assert stories.are_copies(wire, stories.signature(REUTERS.text))
    assert stories.are_copies(wire, stories.signature(UPDATE.text))
    assert not stories.are_copies(wire, stories.signature(OTHER))
    # A short text that quotes the story is not a copy of it.
    assert not stories.are_copies(wire, stories.signature(WIRE[:120]))


def test_grouping_does_not_depend_on_the_order_articles_arrive_in(tmp_path, hashing_embedder):
    from tests.conftest import make_fast_config

    seen = set()
    for seed in range(3):
        items = [AP, REUTERS, UPDATE, BANK]
        random.Random(seed).shuffle(items)
        engine = NewsEngine(make_fast_config(tmp_path / f"d{seed}"), embedder=hashing_embedder)
        for item in items:  # one at a time: each joins (or links) the stories stored before
            add(engine, item)
        groups = story_of(engine)
        engine.close()
        assert groups[AP.url] == groups[REUTERS.url] == groups[UPDATE.url] != groups[BANK.url]
        seen.add(json.dumps(groups, sort_keys=True))
    assert len(seen) == 1  # the same story ids whatever the order


def test_a_new_article_that_links_two_stories_merges_them(fast_engine):
    words = WIRE.split()
    first_half, second_half = " ".join(words[:60]), " ".join(words[60:])
    a = art(first_half + " Subscribe to our morning newsletter for the day's headlines.",
            "https://a.example/1", "A", "2025-03-01", "One")
    b = art(second_half + " Follow our live coverage of the weather this weekend online.",
            "https://b.example/2", "B", "2025-03-01", "Two")
    add(fast_engine, a, b)
    before = story_of(fast_engine)
    assert before[a.url] != before[b.url]
    add(fast_engine, AP)  # holds both halves: a copy of each
    after = story_of(fast_engine)
    assert after[a.url] == after[b.url] == after[AP.url]


def test_changed_text_regroups_and_remove_keeps_the_rest(fast_engine):
    add(fast_engine, AP, REUTERS, BANK)
    groups = story_of(fast_engine)
    assert groups[AP.url] == groups[REUTERS.url]
    add(fast_engine, art(OTHER + " More on rates.", REUTERS.url, "Reuters", "2025-03-02", "T"))
    groups = story_of(fast_engine)
    assert groups[REUTERS.url] == groups[BANK.url] != groups[AP.url]
    fast_engine.remove([BANK.url])
    assert set(story_of(fast_engine)) == {AP.url, REUTERS.url}


def test_a_store_from_before_story_groups_gains_them_on_its_next_write(fast_engine):
    add(fast_engine, AP, REUTERS)
    conn = fast_engine.store.db.connection()
    # What a store made before migration 006 holds: articles, no story rows.
    conn.execute("DELETE FROM story_members")
    assert story_of(fast_engine) == {}
    add(fast_engine, BANK)
    groups = story_of(fast_engine)
    assert groups[AP.url] == groups[REUTERS.url] != groups[BANK.url]


def test_rebuild_groups_every_article(fast_engine):
    add(fast_engine, AP, REUTERS, BANK)
    fast_engine.store.db.connection().execute("DELETE FROM story_members")
    fast_engine.rebuild()
    groups = story_of(fast_engine)
    assert groups[AP.url] == groups[REUTERS.url] != groups[BANK.url]


def test_the_migration_adds_the_table_to_an_old_database(tmp_path):
    import index.sqlite.database as database

    path = tmp_path / "old.sqlite3"
    old = database.MIGRATIONS
    try:
        database.MIGRATIONS = [m for m in old if m[0] != "006_story_groups"]
        Database(path).close()
    finally:
        database.MIGRATIONS = old
    db = Database(path)
    names = {r[0] for r in db.connection().execute("SELECT name FROM _migrations")}
    assert "006_story_groups" in names
    assert db.stories_of(["x"]) == {}
    db.close()


# -- answers ---------------------------------------------------------------------------------
def answering_engine(tmp_path, embedder) -> NewsEngine:
    """An engine on tmp_path/data that never declines (the test embedder's similarities are
    not the real model's)."""
    from tests.conftest import make_fast_config

    return NewsEngine(make_fast_config(tmp_path / "data", answer={"min_similarity": 0.0}),
                      embedder=embedder)


QUESTION = "How many homes lost power when the storm hit the northern coast of Ireland?"


def test_an_answer_cites_one_copy_and_names_the_others(tmp_path, hashing_embedder):
    fast_engine = answering_engine(tmp_path, hashing_embedder)
    add(fast_engine, AP, REUTERS, UPDATE, BANK)
    answer = fast_engine.ask(QUESTION, as_of="2025-03-02")
    assert answer.answered and "80,000" in answer.answer
    storm = [c for c in answer.citations if c.url in (AP.url, REUTERS.url, UPDATE.url)]
    assert len(storm) == 1  # never two copies of one story among the sources
    cited = storm[0]
    others = {r.url for r in cited.also_reported_by}
    assert others == {AP.url, REUTERS.url, UPDATE.url} - {cited.url}
    by = {r.publisher for r in cited.also_reported_by}
    assert by <= {"AP", "Reuters", "localpaper.ie"} and len(by) == 2
    # The passages listed (the closest ones) hold one copy per story too.
    assert len({r.article_id for r in answer.retrieved} & {
        fast_engine.store.find(u).id for u in (AP.url, REUTERS.url, UPDATE.url)
    }) == 1


def test_the_front_doors_show_the_other_copies(tmp_path, hashing_embedder, monkeypatch):
    data = tmp_path / "data"
    engine = answering_engine(tmp_path, hashing_embedder)
    add(engine, AP, REUTERS, BANK)
    answer = engine.ask(QUESTION, as_of="2025-03-02")
    engine.close()
    cited = next(c for c in answer.citations if c.url in (AP.url, REUTERS.url))
    other = "Reuters" if cited.url == AP.url else "AP"
    assert f"also reported by: {other}" in render_answer(answer).description  # Discord

    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "fast.toml"
    config.write_text("[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n")
    base = ["--config", str(config), "--data-dir", str(data), "ask", "--as-of", "2025-03-02"]
    runner = CliRunner()
    text = runner.invoke(cli, [*base, QUESTION])
    assert text.exit_code == 0, text.output
    assert f"also reported by: {other}" in text.output
    data_json = runner.invoke(cli, [*base, "--json", QUESTION])
    cited_json = next(
        c for c in json.loads(data_json.output)["citations"] if c["url"] in (AP.url, REUTERS.url)
    )
    assert [r["publisher"] for r in cited_json["also_reported_by"]] == [other]
    assert cited_json["also_reported_by"][0]["published"] == "2025-03-01"


def test_a_copy_in_another_collection_is_never_named_or_read(tmp_path, hashing_embedder):
    """A server's articles are never cited in another server: not as "also reported by"
    either, nor read as a newer version of a story the other server holds."""
    engine = answering_engine(tmp_path, hashing_embedder)
    engine.add_articles(ReadResult(articles=[AP, BANK]), collection="guild:1")
    engine.add_articles(ReadResult(articles=[REUTERS, UPDATE]), collection="guild:2")
    groups = story_of(engine)
    assert groups[AP.url] == groups[REUTERS.url] == groups[UPDATE.url]  # one story, stored once
    for guild, mine in (("guild:1", {AP.url}), ("guild:2", {REUTERS.url, UPDATE.url})):
        answer = engine.ask(QUESTION, as_of="2025-03-03", collections=[guild])
        named = {c.url for c in answer.citations} | {
            r.url for c in answer.citations for r in c.also_reported_by
        } | {r.url for r in answer.retrieved}
        assert named & {AP.url, REUTERS.url, UPDATE.url} == mine, guild
    both = engine.ask(QUESTION, as_of="2025-03-03", collections=["guild:1", "guild:2"])
    storm = [c for c in both.citations if c.url in (AP.url, REUTERS.url, UPDATE.url)]
    assert len(storm) == 1 and len(storm[0].also_reported_by) == 2
    engine.close()
