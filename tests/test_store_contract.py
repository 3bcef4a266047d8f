"""The store's contract, on both backends: SQLite + FAISS and PostgreSQL + pgvector answer the
same, write atomically and keep answering while they are rebuilt; PostgreSQL's own faults
(server gone, back, unreachable at start) are typed errors and one-line messages.

Add, update in place, re-add, remove, filters and collections are the tests of
tests/test_store.py, tests/test_collections.py and tests/test_search.py that take the
`backend_engine` fixture (each runs on both backends).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest

from bot.engine import NewsEngine
from index.collections import SHARED, guild_collection
from index.embedding import HashingEmbedder
from index.errors import StoreMismatch, StoreUnavailable
from index.feedstate import FeedBook
from index.models import ArticleInput, ReadResult
from index.search import Filters
from tests.conftest import ROOT, backend_config
from tests.test_store import STORY, consistent

A, B = guild_collection(111), guild_collection(222)

TOPICS = [
    ("harbour", "The harbour bridge reopened on Monday after two years of repairs."),
    ("budget", "The city council approved the new budget with funding for libraries."),
    ("floods", "Floods closed the river road and crews worked through the night."),
    ("election", "The mayoral election drew a record turnout in the northern districts."),
    ("vaccine", "A new vaccine for seasonal flu was approved by the health agency."),
    ("railway", "The railway strike cancelled most trains between the two cities."),
    ("drought", "Farmers warned that the drought would cut the wheat harvest by half."),
    ("wildfire", "A wildfire forced hundreds of families to leave the hill villages."),
]


def corpus() -> list[ArticleInput]:
    items = []
    for i, (word, text) in enumerate(TOPICS):
        for copy in range(3):
            items.append(ArticleInput(
                text=f"{text} Report {copy} on the {word} gave details of day {copy + 1}."
                     f" Officials spoke about the {word} again and again.",
                url=f"https://news{copy}.example.com/{word}", title=f"{word.title()} {copy}",
                source=f"Paper {copy}", published=f"2025-0{1 + i % 6}-1{copy}",
                origin=f"https://news{copy}.example.com/{word}",
            ))
    return items


QUESTIONS = [
    "When did the harbour bridge reopen?", "What did the council budget fund?",
    "Why was the river road closed?", "How many trains did the railway strike cancel?",
    "What will the drought do to the harvest?", "Who approved the flu vaccine?",
]


def story(hit) -> str:
    """The topic of a hit's article (its URL's path): the same for all three copies."""
    return hit.passage.article.url.rsplit("/", 1)[1]


def engine_on(backend: str, tmp_path: Path, url: str | None, embedder=None, **sections):
    return NewsEngine(backend_config(backend, tmp_path / backend, url, **sections),
                      embedder=embedder or HashingEmbedder())


def allowed(engine: NewsEngine, filters: dict) -> set[str]:
    """URLs of the articles `filters` lets through, read from the SQLite store's ids."""
    db = engine.store.db
    where = db.passage_filter(filters.get("collections"), filters.get("source"),
                              filters.get("since"), filters.get("until"))
    return {row.article.url for row in db.passages(db.passage_ids(where)).values()}


def top(engine: NewsEngine, question: str, **filters) -> list[tuple[str, int]]:
    return [(h.passage.article.url, h.passage.position)
            for h in engine.searcher.search(question, filters=Filters(**filters))]


# -- the same answers ------------------------------------------------------------------------
def test_both_backends_find_the_same_passages_with_the_same_scores(tmp_path, pg_url):
    lite = engine_on("sqlite", tmp_path, None)
    pg = engine_on("postgres", tmp_path, pg_url)
    try:
        for engine in (lite, pg):
            engine.add_articles(ReadResult(articles=corpus()))
            engine.add_articles(ReadResult(articles=corpus()[:6]), collection=A)
        assert lite.store.db.counts() == pg.store.db.counts()
        for question in QUESTIONS:
            a, b = lite.searcher.search(question), pg.searcher.search(question)
            assert len(a) == len(b) == lite.config.store.search.top_k
            # The same story leads; its three copies tie on the lexical side, where BM25 and
            # ts_rank_cd may order them differently, so stories are compared, not copies.
            assert story(a[0]) == story(b[0]), question
            assert [story(h) for h in a][:3] == [story(h) for h in b][:3], question
            by_text = {h.passage.text: h for h in b}
            for hit in a:
                other = by_text.get(hit.passage.text)
                if other is None:
                    continue
                # Same shape: every field of the hit, the row and its article.
                assert [f.name for f in fields(hit)] == [f.name for f in fields(other)]
                assert other.similarity == pytest.approx(hit.similarity, abs=1e-5)
                assert replace(other.passage.article, added_at="", updated_at="") == replace(
                    hit.passage.article, added_at="", updated_at="")
                assert other.passage.entities == hit.passage.entities
                assert (hit.lexical_rank is None) == (other.lexical_rank is None)
        for filters in ({"source": "Paper 1"}, {"since": "2025-03-01"},
                        {"until": "2025-02-28"}, {"collections": (A,)},
                        {"collections": (A, SHARED), "source": "news2.example.com"}):
            for question in QUESTIONS[:3]:
                a, b = top(lite, question, **filters), top(pg, question, **filters)
                assert a and {u for u, _ in a} <= allowed(lite, filters)
                assert {u for u, _ in b} <= allowed(lite, filters)
                # The best match is the same story; the weak tail (stories that share no
                # word with the question) may differ with the two lexical rankings.
                assert a[0][0].rsplit("/", 1)[1] == b[0][0].rsplit("/", 1)[1], filters
                assert len(a) == len(b), filters
        answer_a = lite.ask(QUESTIONS[0])
        answer_b = pg.ask(QUESTIONS[0])
        assert answer_a.answered == answer_b.answered
        assert answer_a.citations[0].url.rsplit("/", 1)[1] == (
            answer_b.citations[0].url.rsplit("/", 1)[1])
    finally:
        lite.close()
        pg.close()


def test_a_small_collection_gets_its_candidates_from_inside_the_vector_query(pg_url, tmp_path):
    """1,200 passages of one collection outrank the 12 of another; the vector query with the
    collection in its WHERE still returns every one of the 12 (a filter after a fixed top-k
    would return none), as FAISS's id selector does."""
    engine = engine_on("postgres", tmp_path, pg_url, search={"candidates": 20})
    try:
        engine.add_articles(ReadResult(articles=[
            ArticleInput(text=f"Harbour bridge harbour bridge report {i}: the harbour bridge.",
                         url=f"https://b.example.com/{i}", origin="b")
            for i in range(1200)
        ]), collection=B)
        engine.add_articles(ReadResult(articles=[
            ArticleInput(text=f"Note {i} from server A about its own {TOPICS[i % 8][0]} story.",
                         url=f"https://a.example.com/{i}", origin="a")
            for i in range(12)
        ]), collection=A)
        db = engine.store.db
        qvec = engine.embedder.embed(["harbour bridge report"])[0]
        dense = engine.store.vector_index().search(qvec, 20, where=db.passage_filter((A,)))
        assert {pid for pid, _ in dense} == set(db.passage_ids(db.passage_filter((A,))))
        assert len(dense) == 12
        found = {h.passage.article.url for h in engine.searcher.search(
            "harbour bridge report", limit=12, filters=Filters(collections=(A,)))}
        assert found and all(u.startswith("https://a.example.com/") for u in found)
    finally:
        engine.close()


# -- writes ----------------------------------------------------------------------------------
class SlowEmbedder(HashingEmbedder):
    """Embeds like the test embedder, slowly, so a rebuild takes a while."""

    def embed(self, texts, *, batch_size=64, progress=None):
        if len(texts) > 1:
            time.sleep(0.5)
        return super().embed(texts, batch_size=batch_size, progress=progress)


def test_questions_are_answered_all_through_a_rebuild(backend, backend_url, tmp_path):
    engine = engine_on(backend, tmp_path, backend_url, embedder=SlowEmbedder())
    engine.add_articles(ReadResult(articles=corpus()))
    before = engine.store.db.counts()
    # New chunking: the rebuild re-cuts and re-embeds every article.
    settings = engine.store.settings
    engine.store.settings = replace(
        settings, chunk=replace(settings.chunk, max_words=12, overlap_sentences=0)
    )
    done = threading.Event()
    answered: list[int] = []
    errors: list[BaseException] = []

    def ask_repeatedly() -> None:
        while not done.is_set():
            try:
                answered.append(len(engine.searcher.search(QUESTIONS[0])))
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
                return

    asker = threading.Thread(target=ask_repeatedly)
    asker.start()
    try:
        engine.rebuild()
    finally:
        done.set()
        asker.join()
    assert errors == []
    assert len(answered) >= 3 and min(answered) > 0  # never empty, before, during and after
    articles, passages = consistent(engine)
    assert articles == before[0] and passages > before[1]
    engine.close()


def pause_inside_commit(engine: NewsEngine) -> tuple[threading.Event, threading.Event]:
    """Make `engine`'s next write stop inside its transaction, its rows and vectors written
    but not committed, until released: (entered, release)."""
    entered, release = threading.Event(), threading.Event()
    real = engine.store._next_vectors

    def next_vectors(*args, **kwargs):  # type: ignore[no-untyped-def]
        index = real(*args, **kwargs)
        entered.set()
        release.wait(60)
        return index

    engine.store._next_vectors = next_vectors  # type: ignore[method-assign]
    return entered, release


def answered_in_time(engine: NewsEngine, question: str, within_s: float = 10.0) -> list:
    """The hits of `question`, from a thread that must finish within `within_s` (a search
    that waits for a lock held by the open transaction would not)."""
    found: list = []
    failed: list[BaseException] = []

    def search() -> None:
        try:
            found.extend(engine.searcher.search(question))
        except BaseException as exc:  # reported below
            failed.append(exc)

    thread = threading.Thread(target=search, daemon=True)
    thread.start()
    thread.join(within_s)
    assert not thread.is_alive(), "the search waited for the rebuild's transaction"
    assert failed == []
    return found


@pytest.mark.parametrize("new_dimension", [False, True], ids=["same-model", "new-dimension"])
def test_other_processes_answer_while_a_rebuild_transaction_is_open(
    backend, backend_url, tmp_path, new_dimension
):
    """A rebuild writes its passages and vectors beside the old ones and swaps them in at
    commit: while its transaction is open (held open here), another process's questions are
    answered at once, from the old passages; a rebuild for a model of another dimension too
    (processes still on the old model answer until it commits)."""
    reader = engine_on(backend, tmp_path, backend_url)
    reader.add_articles(ReadResult(articles=corpus()))
    old_ids = set(reader.store.db.all_passage_ids())
    assert reader.searcher.search(QUESTIONS[0])
    embedder = HashingEmbedder(128, name="hashing-128") if new_dimension else HashingEmbedder()
    writer = engine_on(backend, tmp_path, backend_url, embedder=embedder,
                       chunking={"max_words": 20, "overlap_sentences": 0})
    entered, release = pause_inside_commit(writer)
    rebuilding = threading.Thread(target=writer.rebuild)
    rebuilding.start()
    try:
        assert entered.wait(120), "the rebuild never reached its commit"
        for question in QUESTIONS[:3]:
            hits = answered_in_time(reader, question)
            assert hits and {h.passage.id for h in hits} <= old_ids, question
        assert reader.store.db.counts()[1] == len(old_ids)
    finally:
        release.set()
        rebuilding.join(120)
    assert not rebuilding.is_alive()
    new_ids = set(writer.store.db.all_passage_ids())
    assert new_ids and not new_ids & old_ids
    hits = writer.searcher.search(QUESTIONS[0])
    assert hits and {h.passage.id for h in hits} <= new_ids
    if new_dimension:
        # The old model's process is told to rebuild, not given wrong answers.
        with pytest.raises(StoreMismatch):
            reader.searcher.search(QUESTIONS[0])
    else:
        assert {h.passage.id for h in reader.searcher.search(QUESTIONS[0])} <= new_ids
    reader.close()
    writer.close()


def test_a_second_process_sees_every_write_of_the_first(pg_url, tmp_path):
    one = engine_on("postgres", tmp_path, pg_url)
    two = engine_on("postgres", tmp_path, pg_url)
    try:
        assert two.searcher.search(QUESTIONS[0]) == []
        one.add_articles(ReadResult(articles=corpus()))
        assert two.searcher.search(QUESTIONS[0])[0].passage.article.url.endswith("/harbour")
        one.remove(["https://news0.example.com/harbour", "https://news1.example.com/harbour",
                    "https://news2.example.com/harbour"])
        assert all("harbour" not in h.passage.article.url
                   for h in two.searcher.search(QUESTIONS[0]))
        assert two.store.db.counts() == one.store.db.counts()
    finally:
        one.close()
        two.close()


WRITER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from bot.engine import NewsEngine
    from index.embedding import HashingEmbedder
    from index.models import ArticleInput, ReadResult
    from tests.conftest import backend_config

    engine = NewsEngine(backend_config("postgres", {data!r}, {url!r}), embedder=HashingEmbedder())
    real_insert = engine.store.db.insert_passages
    def insert(tx, article, texts, entities=None):
        real_insert(tx, article, texts[:1], entities[:1] if entities else None)
        print("inserted", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    engine.store.db.insert_passages = insert
    item = ArticleInput(text="The river flooded the town. Officials counted 40 homes.",
                        url="https://example.com/flood", title="Flood")
    engine.add_articles(ReadResult(articles=[item]))
    """
)


def test_a_writer_killed_mid_transaction_leaves_nothing_half_written(pg_url, tmp_path):
    engine = engine_on("postgres", tmp_path, pg_url)
    engine.add_articles(ReadResult(articles=[
        ArticleInput(text=STORY, url="https://example.com/budget", title="Budget")
    ]))
    before = consistent(engine)
    generation = engine.store.db.generation()
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT), data=str(tmp_path / "w"), url=pg_url))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "inserted" in proc.stdout  # it died inside the transaction, rows written
    assert consistent(engine) == before
    assert engine.store.db.generation() == generation
    assert engine.store.find("https://example.com/flood") is None
    # Its write lock went with it: the next write goes through.
    engine.add_articles(ReadResult(articles=[ArticleInput(text="Storm hits the coast today.")]))
    assert consistent(engine)[0] == 2
    engine.close()


def test_followed_feeds_live_in_postgres_too(pg_url, tmp_path):
    engine = engine_on("postgres", tmp_path, pg_url)
    try:
        book = FeedBook(engine.store.db)
        url = "https://example.com/rss.xml"
        book.follow(url, SHARED, 3600, now=1000.0)
        row = book.follow(url, A, 1800, now=1001.0)
        assert row.interval_s == 1800 and row.followers == {SHARED: 3600, A: 1800}
        (claimed,) = book.claim_due(1500.0, 10, 300.0)
        assert claimed.url == url and book.claim_due(1500.0, 10, 300.0) == []
        book.record_fetched(url, now=1600.0, next_due=3400.0, etag='"x"', last_modified=None,
                            new_articles=True, entries=[("e1", None), ("e1", None)])
        assert book.seen(url) == {"e1"}
        assert book.record_failure(url, now=3400.0, next_due=3500.0, error="boom") == 1
        assert book.counts(A, failing_after=1) == (1, 1)
        assert book.unfollow(url, SHARED) and book.get(url).interval_s == 1800
        assert book.unfollow(url, A) and book.get(url) is None
    finally:
        engine.close()



def test_a_feeds_articles_are_found_for_a_later_follower_on_both_backends(
    backend, backend_url, tmp_path
):
    """The articles a feed's entries became, once each in the order read (what a server that
    follows the feed later is handed): PostgreSQL refuses DISTINCT with an ORDER BY column it
    does not select, so a second server following a read feed failed there."""
    engine = engine_on(backend, tmp_path, backend_url)
    try:
        first, second = engine.add_articles(ReadResult(articles=corpus()[:2])).added
        book = FeedBook(engine.store.db)
        url = "https://example.com/rss.xml"
        book.follow(url, SHARED, 3600, now=1000.0)
        book.record_fetched(url, now=1600.0, next_due=3400.0, etag=None, last_modified=None,
                            new_articles=True, entries=[("e1", second.id), ("e2", None)])
        book.record_fetched(url, now=5000.0, next_due=8600.0, etag=None, last_modified=None,
                            new_articles=True, entries=[("e3", first.id), ("e4", second.id)])
        assert book.entry_articles(url) == [second.id, first.id]
    finally:
        engine.close()

# -- faults ----------------------------------------------------------------------------------
def test_a_lost_server_is_a_typed_error_and_the_store_recovers_by_itself(
    embedded_pg, pg_url, tmp_path
):
    engine = engine_on("postgres", tmp_path, pg_url)
    engine.add_articles(ReadResult(articles=corpus()))
    counts = engine.store.db.counts()
    assert engine.searcher.search(QUESTIONS[0])
    embedded_pg.stop()
    try:
        with pytest.raises(StoreUnavailable) as caught:
            engine.searcher.search(QUESTIONS[0])
        assert "try again" in str(caught.value) and "\n" not in str(caught.value)
        with pytest.raises(StoreUnavailable):
            engine.add_articles(ReadResult(articles=[ArticleInput(text="Lost in the outage.")]))
    finally:
        embedded_pg.start()
    hits = engine.searcher.search(QUESTIONS[0])  # the pool reconnects by itself
    assert hits[0].passage.article.url.endswith("/harbour")
    assert engine.store.db.counts() == counts  # nothing committed was lost
    assert engine.ask(QUESTIONS[1]).retrieved
    engine.close()


def test_an_unreachable_database_at_start_is_one_line_and_a_failing_exit(tmp_path):
    config = tmp_path / "newsbot.toml"
    config.write_text('[store]\nbackend = "postgres"\n')
    result = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "index", "stats"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1",
             "NEWSBOT_DATABASE_URL": "postgresql://bot:hunter2@127.0.0.1:1/news"},
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: cannot connect to PostgreSQL at postgresql://bot:***@")
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


# -- the command line ------------------------------------------------------------------------
def test_the_cli_commands_work_on_postgres(pg_url, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from bot.cli import cli

    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "pg.toml"
    config.write_text(
        f'[store]\nbackend = "postgres"\nurl = "{pg_url}"\n'
        "[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n"
    )
    data = tmp_path / "data"

    def run(*args: str):
        result = CliRunner().invoke(cli, ["--data-dir", str(data), "--config", str(config),
                                          *args])
        return result

    assert run("index", "build").exit_code == 0
    again = run("index", "build")
    assert again.exit_code != 0 and "already holds articles" in str(again.exception)
    story = tmp_path / "budget.md"
    story.write_text(f"---\ntitle: Budget\nurl: https://example.com/budget\n---\n{STORY}\n")
    assert run("index", "add", str(story)).exit_code == 0
    stats = json.loads(run("index", "stats", "--json").output)
    assert stats["articles"] == 2 and stats["index_type"] == "hnsw"
    assert "://" in stats["data_dir"] and not (data / "news.sqlite3").exists()
    answer = json.loads(run("ask", "--json", "What did the council approve?").output)
    assert "https://example.com/budget" in {r["url"] for r in answer["retrieved"]}
    assert run("index", "rebuild").exit_code == 0
    listed = run("feeds", "list", "--json")
    assert listed.exit_code == 0 and listed.stdout.strip() == ""
    assert run("index", "expire").exit_code == 0
    assert run("index", "remove", "https://example.com/budget").exit_code == 0
    assert json.loads(run("index", "stats", "--json").output)["articles"] == 1


# -- the vector index ------------------------------------------------------------------------
def test_the_search_is_served_by_the_hnsw_index_of_its_dimension(pg_url, tmp_path):
    engine = engine_on("postgres", tmp_path, pg_url)
    try:
        engine.add_articles(ReadResult(articles=corpus()))
        engine.add_articles(ReadResult(articles=corpus()[:3]), collection=A)
        db, vectors = engine.store.db, engine.store.vector_index()
        assert db.vector_dimensions() == [256]
        qvec = engine.embedder.embed([QUESTIONS[0]])[0]
        for where in (None, db.passage_filter((A,))):
            sql, params = vectors.query(qvec, 10, where)
            with db.transaction_for_reads() as tx:
                tx.execute("SET LOCAL enable_seqscan = off")  # 24 rows: a scan would win
                plan = "\n".join(r[0] for r in tx.execute("EXPLAIN " + sql, params))
            assert "Index Scan using passages_embedding_256" in plan, plan
        # A whole rebuild for a model of another dimension leaves only its own index.
        other = engine_on("postgres", tmp_path, pg_url, embedder=HashingEmbedder(64, name="h64"))
        other.rebuild()
        assert db.vector_dimensions() == [64]
        assert other.searcher.search(QUESTIONS[0])[0].passage.article.url.endswith("/harbour")
        other.close()
    finally:
        engine.close()


def test_a_store_made_with_a_declared_dimension_is_migrated_to_an_index_per_dimension(pg_url):
    """Migration 002 on a store of 001 (the vector column declared vector(3), one index)."""
    import psycopg

    from index.postgres.connection import migrate
    from index.postgres.database import PgDatabase
    from index.postgres.schema import MIGRATIONS, NAMESPACE

    with psycopg.connect(pg_url, autocommit=True) as conn:
        migrate(conn, NAMESPACE, MIGRATIONS[:1])
        conn.execute("ALTER TABLE passages ALTER COLUMN embedding TYPE vector(3) USING NULL")
        conn.execute("CREATE INDEX passages_embedding ON passages USING hnsw"
                     " (embedding vector_ip_ops) WITH (m = 24)")
        conn.execute("INSERT INTO articles (id, text, content_hash, added_at, updated_at)"
                     " VALUES ('a', 'x', 'h', 't', 't')")
        conn.execute("INSERT INTO passages (article_id, position, text, tsv, embedding)"
                     " VALUES ('a', 0, 'x', to_tsvector('x'), '[0.6, 0.8, 0]')")
    db = PgDatabase(pg_url)
    try:
        assert db.vector_dimensions() == [3]
        row = db.connection().execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'passages_embedding_3'"
        ).fetchone()
        assert "m='24'" in row[0] and "vector_dims(embedding) = 3" in row[0]
        assert db.connection().execute(
            "SELECT embedding::text FROM passages").fetchone() == ("[0.6,0.8,0]",)
        assert db.connection().execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'passages'::regclass"
            " AND attname = 'embedding'").fetchone() == (-1,)
    finally:
        db.close()
