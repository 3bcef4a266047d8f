"""`newsbot migrate --to postgresql://…`: the SQLite store copied into PostgreSQL, vectors
included and never embedded again, in one transaction, its counts checked; the migrated store
answers as the SQLite one did; bad input is one line that never shows a password."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.errors import NewsbotError
from index.feedstate import FeedBook
from index.models import ArticleInput, ReadResult
from tests.conftest import ROOT, SEED, backend_config, make_fast_config
from tests.test_store_contract import QUESTIONS, TOPICS, A

FEED = "https://example.com/rss.xml"


class RefusingEmbedder(HashingEmbedder):
    """The test embedder's name and dimension; embedding anything fails the test."""

    def embed(self, texts, *, batch_size=64, progress=None):
        raise AssertionError(f"migrate embedded {len(texts)} texts")


def with_password(url: str, password: str = "sekrit") -> str:
    """The embedded server's URL with a password in it (the server trusts local
    connections, so it is ignored; what matters is that no output shows it)."""
    return url.replace("postgres:@", f"postgres:{password}@", 1)


def articles() -> list[ArticleInput]:
    """One article per topic (distinct, so that both lexical rankings agree on the best),
    and a longer copy of the wildfire one from another site (a story group of two)."""
    items = [
        ArticleInput(text=f"{text} Officials spoke about the {word} on the radio.",
                     url=f"https://news.example.com/{word}", title=word.title(),
                     source="Paper", published=f"2025-0{1 + i % 6}-1{i % 3}", origin=word)
        for i, (word, text) in enumerate(TOPICS)
    ]
    wildfire = items[-1] = replace(items[-1], text=items[-1].text + (
        " Firefighters from three regions fought the flames through the weekend while"
        " buses took the older residents to a school in the valley town below."))
    items.append(ArticleInput(text=wildfire.text + " More families left on Tuesday.",
                              url="https://other.example.com/wildfire", title="Wildfire",
                              source="Other Paper", published="2025-02-13", origin="copy"))
    return items


def fill(engine: NewsEngine) -> None:
    """The articles (shared), three of them in a second collection too, the seed article, a
    followed feed with its state."""
    engine.add_articles(ReadResult(articles=articles()))
    engine.add_articles(ReadResult(articles=articles()[:3]), collection=A)
    engine.add_sources([str(SEED)])
    book = FeedBook(engine.store.db)
    book.follow(FEED, A, 1800, now=1000.0)
    book.follow(FEED, "shared", 3600, now=1001.0)
    book.record_fetched(FEED, now=1600.0, next_due=3400.0, etag='"v1"', last_modified=None,
                        new_articles=True, entries=[("e1", None), ("e2", None)])


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Path:
    """A SQLite store in tmp_path/data, as `fill` fills it."""
    engine = NewsEngine(make_fast_config(tmp_path / "data"), embedder=HashingEmbedder())
    fill(engine)
    engine.close()
    return tmp_path / "data"


def run_cli(data: Path, *args: str, env: dict | None = None):
    return CliRunner().invoke(cli, ["--data-dir", str(data), *args], env=env)


def pg_engine(tmp_path: Path, url: str, embedder=None) -> NewsEngine:
    return NewsEngine(backend_config("postgres", tmp_path / "pgdata", url),
                      embedder=embedder or HashingEmbedder())


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_migrate_copies_the_store_without_embedding_and_answers_the_same(
    sqlite_store, pg_url, tmp_path, monkeypatch
):
    # Whatever the command would load or make, it cannot embed.
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: RefusingEmbedder())
    monkeypatch.setattr("bot.cli.index.make_embedder", lambda settings: RefusingEmbedder())
    url = with_password(pg_url)
    result = run_cli(sqlite_store, "migrate", "--to", url)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "sekrit" not in result.output
    printed = {line.split()[0]: line.split()[-2:] for line in result.stdout.splitlines()[1:]}
    assert printed["articles"] == ["10", "10"] and printed["vectors"][0] == printed["vectors"][1]
    assert printed["collections"] == ["2", "2"] and printed["feeds"] == ["1", "1"]
    assert printed["story"] == ["9", "9"]  # "story groups": 10 articles, one pair

    lite = NewsEngine(make_fast_config(sqlite_store), embedder=HashingEmbedder())
    pg = pg_engine(tmp_path, pg_url)
    try:
        assert pg.store.db.counts() == lite.store.db.counts()
        # Every passage kept its id, text and vector.
        (same,) = rows(pg_url, "SELECT COUNT(*) FROM passages WHERE embedding IS NOT NULL")[0]
        assert same == lite.store.db.counts()[1]
        for pid in lite.store.db.all_passage_ids()[:5]:
            vec = lite.store.vector_index().vectors_of([pid])[0]
            assert pg.store.vector_index().similarities(vec, [pid])[pid] == pytest.approx(
                1.0, abs=1e-5)
        assert pg.collections() == lite.collections() == [A, "shared"]
        assert pg.store.db.collections_of(lite.store.db.all_articles()[0].id) == (
            lite.store.db.collections_of(lite.store.db.all_articles()[0].id))
        stats_a, stats_b = lite.stats(), pg.stats()
        assert (stats_b.model, stats_b.dimension) == (stats_a.model, stats_a.dimension)
        assert [c.last_ingest for c in stats_b.collections] == (
            [c.last_ingest for c in stats_a.collections])
        feed_a, feed_b = FeedBook(lite.store.db).get(FEED), FeedBook(pg.store.db).get(FEED)
        assert feed_b == feed_a and feed_b.etag == '"v1"'
        assert FeedBook(pg.store.db).seen(FEED) == {"e1", "e2"}
        # The same questions, the same answers.
        answered = 0
        for question in [*QUESTIONS, "What does Putin demand to end the offensive?"]:
            # The dense side alone: the same passages with the same scores (the vectors are
            # the SQLite store's, and pgvector scores them as FAISS does).
            qvec = HashingEmbedder().embed([question])[0]
            dense_a = lite.store.vector_index().search(qvec, 10)
            dense_b = pg.store.vector_index().search(qvec, 10)
            # (Equal scores, of copies the question tells apart by no word, come in either
            # order: FAISS leaves ties as they fall, PostgreSQL orders them by id.)
            assert [s for _, s in dense_b] == pytest.approx([s for _, s in dense_a], abs=1e-5)
            scores_a = dict(dense_a)
            for pid, score in dense_b:
                if pid in scores_a:
                    assert score == pytest.approx(scores_a[pid], abs=1e-5), question
            # Fused with the lexical side (BM25 and ts_rank_cd): the same top three.
            a, b = lite.searcher.search(question), pg.searcher.search(question)
            assert [h.passage.id for h in a[:3]] == [h.passage.id for h in b[:3]], question
            answer_a, answer_b = lite.ask(question), pg.ask(question)
            assert answer_b.answer == answer_a.answer, question
            assert answer_b.answered == answer_a.answered, question
            answered += answer_a.answered
            assert answer_b.citations == answer_a.citations, question
        assert answered >= 4  # the others are declined on both
        # The migrated store takes writes: new passage ids follow the copied ones.
        top = max(lite.store.db.all_passage_ids())
        pg.add_articles(ReadResult(articles=[ArticleInput(
            text="The lighthouse keeper retired after forty years.", url="https://x.org/l")]))
        assert min(set(pg.store.db.all_passage_ids()) - set(lite.store.db.all_passage_ids())) > top
        assert pg.ask("Who retired after forty years?").citations[0].url == "https://x.org/l"
    finally:
        lite.close()
        pg.close()


def test_a_target_that_is_not_empty_is_refused_unless_replaced(sqlite_store, pg_url, tmp_path):
    pg = pg_engine(tmp_path, pg_url)
    pg.add_articles(ReadResult(articles=[ArticleInput(
        text="Already here before the migration.", url="https://x.org/before")]))
    pg.close()
    refused = run_cli(sqlite_store, "migrate", "--to", with_password(pg_url))
    assert refused.exit_code != 0 and isinstance(refused.exception, NewsbotError)
    message = str(refused.exception)
    assert "not empty (it holds 1 articles" in message and "--replace" in message
    assert "sekrit" not in message and "\n" not in message
    assert rows(pg_url, "SELECT url FROM articles") == [("https://x.org/before",)]
    replaced = run_cli(sqlite_store, "migrate", "--to", pg_url, "--replace")
    assert replaced.exit_code == 0, repr(replaced.exception)
    urls = {r[0] for r in rows(pg_url, "SELECT url FROM articles")}
    assert len(urls) == 10 and "https://x.org/before" not in urls


def test_the_url_may_come_from_newsbot_database_url(sqlite_store, pg_url):
    result = run_cli(sqlite_store, "migrate", env={"NEWSBOT_DATABASE_URL": pg_url})
    assert result.exit_code == 0, repr(result.exception)
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(10,)]


def test_counts_that_differ_roll_the_copy_back(sqlite_store, pg_url, monkeypatch):
    import index.migrate

    # A copy that leaves one table out (as a bug would): the check finds it, nothing stays.
    monkeypatch.setattr(index.migrate, "PLAIN_AFTER",
                        [t for t in index.migrate.PLAIN_AFTER if t[0] != "feed_entries"])
    result = run_cli(sqlite_store, "migrate", "--to", pg_url)
    assert result.exit_code != 0
    assert str(result.exception) == (
        "the copy does not match its source (feed entries: 2 in SQLite, 0 in PostgreSQL);"
        " nothing was written")
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(0,)]
    assert rows(pg_url, "SELECT COUNT(*) FROM meta") == [(0,)]


KILLED = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    import index.migrate
    from pathlib import Path

    real = index.migrate.StorePart._copy_table
    def copy_table(self, tx, table, columns, progress):
        real(self, tx, table, columns, progress)
        if table == "story_members":  # articles, passages, vectors, memberships: written
            print("copied", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
    index.migrate.StorePart._copy_table = copy_table
    index.migrate.migrate_to_postgres(Path({data!r}), {url!r})
    """
)


def test_a_copy_killed_midway_leaves_the_target_empty(sqlite_store, pg_url, tmp_path):
    script = tmp_path / "killed.py"
    script.write_text(KILLED.format(root=str(ROOT), data=str(sqlite_store), url=pg_url))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "copied" in proc.stdout
    for table in ("articles", "passages", "article_collections", "story_members", "meta"):
        assert rows(pg_url, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    # The passages' indexes, dropped for the load and built again in the transaction, are
    # there as the schema made them (the HNSW one came in the same transaction: gone too).
    assert rows(pg_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'passages'"
                        " ORDER BY 1") == [("passages_article",), ("passages_pkey",),
                                           ("passages_tsv",)]
    # Its locks (the target's and the source's) went with it: the next copy goes through.
    again = run_cli(sqlite_store, "migrate", "--to", pg_url)
    assert again.exit_code == 0, repr(again.exception)
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(10,)]


def test_bad_input_is_one_line(sqlite_store, pg_url, tmp_path):
    def error(data: Path, *args: str) -> str:
        result = run_cli(data, "migrate", *args)
        assert result.exit_code != 0
        assert isinstance(result.exception, NewsbotError), repr(result.exception)
        message = str(result.exception)
        assert "\n" not in message and "sekrit" not in message
        return message

    assert "is not a PostgreSQL URL" in error(
        sqlite_store, "--to", "mysql://bot:sekrit@db.example.org/news")
    assert "no store to migrate" in error(tmp_path / "nothing", "--to", pg_url)
    empty = tmp_path / "empty"
    NewsEngine(make_fast_config(empty), embedder=HashingEmbedder()).close()
    assert "nothing to migrate" in error(empty, "--to", pg_url)

    db = sqlite3.connect(sqlite_store / "news.sqlite3")
    db.execute("UPDATE meta SET value = '128' WHERE key = 'dimension'")
    db.commit()
    message = error(sqlite_store, "--to", pg_url)
    assert "128-dimensional" in message and "256-dimensional" in message
    db.execute("UPDATE meta SET value = '256' WHERE key = 'dimension'")
    db.commit()
    db.close()
    for path in sqlite_store.glob("vectors.*.faiss"):
        path.unlink()
    assert "is missing; run `newsbot index rebuild`" in error(sqlite_store, "--to", pg_url)
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(0,)]


def test_an_unreachable_server_is_one_line_without_the_password(sqlite_store):
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "--data-dir",
         str(sqlite_store), "migrate", "--to", "postgresql://bot:hunter2@127.0.0.1:1/news"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot connect to PostgreSQL at postgresql://bot:***@")
    assert "hunter2" not in result.stderr + result.stdout


def test_the_bots_settings_answers_and_feedback_come_along(sqlite_store, pg_url, tmp_path):
    from bot.guilds.settings import open_guild_settings
    from tests.test_guild_settings import sample_answer

    big = 1_234_567_890_123_456_789  # a snowflake
    lite = open_guild_settings(make_fast_config(sqlite_store).store)
    lite.allow_channel(big, 10)
    lite.deny_channel(big, 11)
    lite.allow_asker_role(big, 77)
    lite.set_searches_shared(big, False)
    lite.set_thread_per_question(big, True)
    lite.add_free_channel(big, 12)
    lite.save_answer("opening", sample_answer("First?"), guild_id=big, message_id=500)
    lite.save_answer("inside", sample_answer("Second?"), guild_id=big, channel_id=500)
    for user in (1, 2):
        lite.record_feedback(guild_id=big, channel_id=10, user_id=user, question="First?",
                             answer="a", helpful=user == 1, answer_key="opening")
    result = run_cli(sqlite_store, "migrate", "--to", pg_url)
    assert result.exit_code == 0, result.output + repr(result.exception)
    printed = {line[:16].strip(): line.split()[-2:] for line in result.stdout.splitlines()[1:]}
    assert printed["channel rules"] == ["2", "2"] and printed["feedback"] == ["2", "2"]
    assert printed["stored answers"] == ["2", "2"]

    pg = open_guild_settings(backend_config("postgres", tmp_path / "pgdata", pg_url).store)
    try:
        assert pg.list_channels(big) == ([10], [11]) and pg.list_asker_roles(big) == [77]
        assert pg.searches_shared(big) is False and pg.thread_per_question(big)
        assert pg.list_free_channels(big) == [12]
        assert pg.thread_questions(500) == ["First?", "Second?"]  # the order they were saved
        assert pg.answer_for_message(500).answer == lite.answer_for_message(500).answer
        assert pg.list_feedback() == lite.list_feedback()
        # New rows get new ids: a vote after the copy is a third one, not a clash.
        assert pg.record_feedback(guild_id=big, channel_id=10, user_id=3, question="q",
                                  answer="a", helpful=True)
        assert [f.id for f in pg.list_feedback()] == [3, 2, 1]
        pg.save_answer("later", sample_answer("Third?"), channel_id=500)
        assert pg.thread_questions(500) == ["First?", "Second?", "Third?"]
    finally:
        pg.close()
        lite.close()
    # Migrating again replaces the bot's rows too, never doubles them.
    refused = run_cli(sqlite_store, "migrate", "--to", pg_url)
    assert refused.exit_code != 0
    assert "3 stored answers, 3 feedback" in str(refused.exception)
    again = run_cli(sqlite_store, "migrate", "--to", pg_url, "--replace")
    assert again.exit_code == 0, repr(again.exception)
    assert rows(pg_url, "SELECT COUNT(*) FROM feedback") == [(2,)]
    assert rows(pg_url, "SELECT COUNT(*) FROM answers") == [(2,)]


ALL_INDEXES = (
    "SELECT tablename, indexname, indexdef FROM pg_indexes"
    " WHERE schemaname = current_schema() ORDER BY tablename, indexname"
)
SECONDARY = ["passages_article", f"passages_embedding_{HashingEmbedder().dimension}",
             "passages_tsv"]


def test_the_migrated_store_has_the_indexes_pgstore_makes_and_answers_as_it_does(
    sqlite_store, pg_url, embedded_pg, tmp_path
):
    from bot.guilds.settings import open_guild_settings

    result = run_cli(sqlite_store, "migrate", "--to", pg_url, "--maintenance-work-mem", "64MB",
                     "--maintenance-workers", "1")
    assert result.exit_code == 0, result.output + repr(result.exception)
    with embedded_pg.database() as product_url:
        # The same store written by PgStore itself, article by article, with the bot's tables.
        product = pg_engine(tmp_path / "product", product_url)
        fill(product)
        open_guild_settings(backend_config("postgres", tmp_path / "p", product_url).store).close()
        migrated = pg_engine(tmp_path, pg_url)
        try:
            # Every index of every table, passages' partial HNSW index included: same names,
            # same definitions (method, operator class, m, predicate).
            assert rows(pg_url, ALL_INDEXES) == rows(product_url, ALL_INDEXES)
            names = [r[1] for r in rows(pg_url, ALL_INDEXES) if r[0] == "passages"]
            assert names == ["passages_article", *SECONDARY[1:2], "passages_pkey", "passages_tsv"]
            answered = 0
            for question in QUESTIONS:
                want, got = product.ask(question), migrated.ask(question)
                assert (got.answer, got.answered) == (want.answer, want.answered), question
                assert got.citations == want.citations, question
                answered += got.answered
            assert answered >= 4
        finally:
            migrated.close()
            product.close()


def reader_of(url: str) -> tuple[int | None, str]:
    """What a reader of `url`'s passages gets while the copy runs: their count, or "waits"
    when the table is locked (it would wait for the commit)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '1s'")
        try:
            return int(conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]), "reads"
        except psycopg.errors.LockNotAvailable:
            return None, "waits"


def migrating(sqlite_store: Path, url: str, **kwargs) -> tuple[list[str], list[tuple]]:
    """migrate_to_postgres with the bot's part; the stages it reported, and what a reader of
    the target saw once the passages were in (before the commit)."""
    from bot.guilds.migrate import guild_settings_part
    from index.migrate import migrate_to_postgres

    stages: list[str] = []
    seen: list[tuple] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in stages:
            stages.append(stage)
            if stage == "copying article_collections":  # passages and their indexes done
                seen.append(reader_of(url))

    migrate_to_postgres(sqlite_store, url, progress=progress,
                        extra_parts=[guild_settings_part], **kwargs)
    return stages, seen


def test_into_an_empty_target_the_indexes_are_built_after_the_load(sqlite_store, pg_url):
    stages, seen = migrating(sqlite_store, pg_url)
    # Each of the passages' secondary indexes built once the rows were in...
    built = [s for s in stages if s.startswith("building index ")]
    assert built == [f"building index {name}" for name in SECONDARY]
    assert stages.index(built[0]) > stages.index("full text of passages")
    # ...the table locked for it until the commit (nobody reads an empty target).
    assert seen == [(None, "waits")]
    assert [r[0] for r in rows(pg_url, "SELECT indexname FROM pg_indexes WHERE tablename ="
                               " 'passages' ORDER BY 1")] == sorted([*SECONDARY, "passages_pkey"])


def test_the_migrated_tables_have_planner_statistics_at_once(sqlite_store, pg_url):
    """ANALYZE runs after the commit, so the first questions are planned on the loaded rows
    rather than on an empty table's guesses until autovacuum's next round."""
    stages, _ = migrating(sqlite_store, pg_url)
    assert stages.index("planner statistics") > stages.index("committing")
    analyzed = dict(rows(pg_url, "SELECT relname, last_analyze IS NOT NULL"
                                 " FROM pg_stat_user_tables"))
    assert analyzed["passages"] and analyzed["articles"] and analyzed["feeds"]
    assert rows(pg_url, "SELECT reltuples FROM pg_class WHERE relname = 'passages'") == rows(
        pg_url, "SELECT COUNT(*)::real FROM passages")


def test_a_replace_keeps_the_indexes_so_readers_see_the_old_store_meanwhile(
    sqlite_store, pg_url, tmp_path
):
    pg = pg_engine(tmp_path, pg_url)
    pg.add_articles(ReadResult(articles=[ArticleInput(
        text="Already here before the migration.", url="https://x.org/before")]))
    pg.close()
    stages, seen = migrating(sqlite_store, pg_url, replace=True)
    assert not [s for s in stages if s.startswith("building index")]
    assert seen == [(1, "reads")]  # the old store's one passage, not a wait
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(10,)]


def test_maintenance_options_are_checked(sqlite_store, pg_url):
    for args, said in (
        (("--maintenance-work-mem", "lots"), "--maintenance-work-mem: 'lots' is not a memory"
                                              " size from 1MB to 2047GB such as 512MB or 4GB"),
        (("--maintenance-work-mem", "512"), "--maintenance-work-mem: '512' is not a memory"),
        (("--maintenance-work-mem", "3TB"), "--maintenance-work-mem: '3TB' is not a memory"),
        (("--maintenance-workers", "-1"), "--maintenance-workers: -1 is not a number of"
                                           " workers from 0 to 64"),
    ):
        result = run_cli(sqlite_store, "migrate", "--to", pg_url, *args)
        assert result.exit_code != 0 and isinstance(result.exception, NewsbotError), args
        assert str(result.exception).startswith(said), str(result.exception)
    # Refused before the target was touched.
    assert rows(pg_url, "SELECT to_regclass('articles')") == [(None,)]
    ok = run_cli(sqlite_store, "migrate", "--to", pg_url, "--maintenance-work-mem", "2 gb",
                 "--maintenance-workers", "0")
    assert ok.exit_code == 0, repr(ok.exception)


def test_a_store_without_articles_still_brings_the_bots_settings(pg_url, tmp_path):
    from bot.guilds.settings import open_guild_settings

    def empty_store(name: str):  # type: ignore[no-untyped-def]
        data = tmp_path / name
        NewsEngine(make_fast_config(data), embedder=HashingEmbedder()).close()
        return data, open_guild_settings(make_fast_config(data).store)  # bot.sqlite3

    data, settings = empty_store("settings-only")
    settings.allow_channel(42, 10)
    settings.record_feedback(guild_id=42, channel_id=10, user_id=1, question="q?",
                             answer="a", helpful=True)
    settings.close()
    result = run_cli(data, "migrate", "--to", pg_url)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert rows(pg_url, "SELECT guild_id, channel_id, allowed FROM channel_rules") == [(42, 10, 1)]
    assert rows(pg_url, "SELECT COUNT(*) FROM feedback") == [(1,)]
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(0,)]
    # Truly nothing (bot.sqlite3 there, with no rows): refused, saying what was looked at.
    nothing, settings = empty_store("nothing")
    settings.close()
    refused = run_cli(nothing, "migrate", "--to", pg_url, "--replace")
    assert refused.exit_code != 0
    assert str(refused.exception) == (
        f"nothing to migrate: the store in {nothing} holds no articles and follows no feeds,"
        " and has no bot settings")
    assert rows(pg_url, "SELECT COUNT(*) FROM channel_rules") == [(1,)]


def test_an_index_build_the_server_has_no_memory_for_is_said_so(sqlite_store, pg_url):
    # Parallel workers even for this small table (a setting of this test's database), so the
    # HNSW build asks for shared memory of --maintenance-work-mem's size, which no machine has.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{conn.info.dbname}" SET min_parallel_table_scan_size = 0')
    result = run_cli(sqlite_store, "migrate", "--to", pg_url, "--maintenance-work-mem", "2000GB",
                     "--maintenance-workers", "1")
    assert result.exit_code != 0 and isinstance(result.exception, NewsbotError)
    message = str(result.exception)
    assert message.startswith(f"building the index {SECONDARY[1]} failed (could not")
    assert message.endswith("; nothing was written: try a smaller --maintenance-work-mem or"
                            " fewer --maintenance-workers")
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(0,)]
