"""The store: update in place, no duplicates, remove, rebuild and swap, damage detection.

These use the deterministic test embedder; tests/test_seed_answers.py uses the real model.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.errors import StoreMismatch
from index.models import ArticleInput, ReadResult
from index.sqlite.database import Database
from index.sqlite.vectors import vector_file


def article(text: str, url: str | None = None, title: str | None = "A title", **kw) -> ArticleInput:
    return ArticleInput(text=text, url=url, title=title, origin=url or "test", **kw)


def add(engine: NewsEngine, *items: ArticleInput):
    return engine.add_articles(ReadResult(articles=list(items)))


def consistent(engine: NewsEngine) -> tuple[int, int]:
    """(articles, passages), after checking FAISS, FTS and SQLite hold the same passages
    (PostgreSQL: every passage row holds its vector and full text)."""
    store = engine.store
    index = store.vector_index()
    articles, passages = store.db.counts()
    if store.filters_in_query:
        complete = store.db.connection().execute(
            "SELECT COUNT(*) FROM passages WHERE embedding IS NOT NULL AND tsv IS NOT NULL"
        ).fetchone()[0]
        assert complete == passages == index.size
        assert sorted(index.ids().tolist()) == store.db.all_passage_ids()
        return articles, passages
    ids = sorted(index.ids().tolist())
    assert ids == store.db.all_passage_ids()
    fts = store.db.connection().execute("SELECT COUNT(*) FROM passages_fts").fetchone()[0]
    assert fts == passages == index.size
    return articles, passages


STORY = (
    "The city council approved the new budget on Tuesday. "
    "It includes funding for three new libraries and a bridge. "
    "The mayor said the vote was a victory for residents."
)


def test_same_url_updates_in_place_and_changed_text_replaces_passages(backend_engine):
    first = add(backend_engine, article(STORY, url="https://example.com/budget"))
    assert len(first.added) == 1
    old_ids = backend_engine.store.db.all_passage_ids()

    changed = STORY.replace("three new libraries", "four new libraries")
    second = add(backend_engine, article(changed, url="https://example.com/budget"))
    assert (len(second.added), len(second.updated)) == (0, 1)
    assert second.updated[0].id == first.added[0].id
    assert consistent(backend_engine)[0] == 1
    new_ids = backend_engine.store.db.all_passage_ids()
    assert not set(old_ids) & set(new_ids)
    stored = backend_engine.store.db.article_by_id(first.added[0].id)
    assert "four new libraries" in stored.text
    assert stored.added_at == first.added[0].added_at


def test_same_text_again_is_not_stored_twice(backend_engine):
    add(backend_engine, article(STORY, url="https://example.com/a"))
    again = add(backend_engine, article(STORY, url="https://example.com/a"))
    assert len(again.unchanged) == 1 and again.changed == 0
    # The same text under another URL (syndication) is the same article.
    elsewhere = add(backend_engine, article(STORY, url="https://mirror.example.org/a"))
    assert len(elsewhere.unchanged) == 1 and elsewhere.changed == 0
    assert backend_engine.store.db.article_by_url("https://mirror.example.org/a") is None
    assert consistent(backend_engine)[0] == 1
    # Duplicates inside one batch collapse too.
    batch = add(backend_engine, article("Another story here. It is short."),
                article("Another story here. It is short."))
    assert len(batch.added) == 1
    assert consistent(backend_engine)[0] == 2


def test_metadata_only_change_keeps_passages(backend_engine):
    add(backend_engine, article(STORY, url="https://example.com/a"))
    ids = backend_engine.store.db.all_passage_ids()
    result = add(backend_engine, article(STORY, url="https://example.com/a", author="Jane Doe"))
    assert len(result.updated) == 1
    assert backend_engine.store.db.all_passage_ids() == ids
    assert backend_engine.store.db.article_by_url("https://example.com/a").author == "Jane Doe"


def test_remove_by_url_and_id(backend_engine):
    a = add(backend_engine, article(STORY, url="https://example.com/a")).added[0]
    b = add(backend_engine, article("Storm hits the coast. Thousands lose power.")).added[0]
    report = backend_engine.remove(["https://example.com/a", b.id, "https://nowhere.example/x"])
    assert {x.id for x in report.removed} == {a.id, b.id}
    assert report.not_found == ["https://nowhere.example/x"]
    assert consistent(backend_engine) == (0, 0)
    assert backend_engine.ask("council budget").answered is False


def test_rebuild_swaps_while_questions_are_answered(fast_config):
    class SlowEmbedder(HashingEmbedder):
        """Embeds like the test embedder, slowly, so a rebuild takes a while."""

        def embed(self, texts, *, batch_size=64, progress=None):
            if len(texts) > 1:
                time.sleep(0.5)
            return super().embed(texts, batch_size=batch_size, progress=progress)

    engine = NewsEngine(fast_config, embedder=SlowEmbedder())
    add(engine, article(STORY, url="https://example.com/a"),
        article("Storm hits the coast. Thousands lose power.", url="https://example.com/b"))
    generation = engine.store.db.generation()
    # New chunking makes the rebuild re-embed everything.
    engine.store.settings = type(engine.store.settings)(
        **{**engine.store.settings.__dict__,
           "chunk": type(engine.store.settings.chunk)(max_words=20, overlap_sentences=0)}
    )
    done = threading.Event()
    answers = []
    errors: list[BaseException] = []

    def ask_repeatedly():
        while not done.is_set():
            try:
                answers.append(engine.ask("What did the council approve?"))
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)
                return

    asker = threading.Thread(target=ask_repeatedly)
    asker.start()
    try:
        report = engine.rebuild()
    finally:
        done.set()
        asker.join()
    assert errors == []  # no question failed while the store was swapped under it
    assert report.articles == 2
    assert engine.store.db.generation() == generation + 1
    assert answers and all(a.retrieved for a in answers)
    consistent(engine)
    assert not vector_file(engine.store.data_dir, generation).exists()
    engine.close()


def test_damaged_vector_file_is_detected_and_rebuild_fixes_it(
    fast_engine, fast_config, hashing_embedder
):
    add(fast_engine, article(STORY, url="https://example.com/a"))
    path = vector_file(fast_engine.store.data_dir, fast_engine.store.db.generation())
    fast_engine.close()
    path.write_bytes(path.read_bytes()[:40])  # truncated

    reopened = NewsEngine(fast_config, embedder=hashing_embedder)
    with pytest.raises(StoreMismatch, match="newsbot index rebuild"):
        reopened.ask("What did the council approve?")
    reopened.rebuild()
    assert reopened.ask("What did the council approve?").retrieved
    consistent(reopened)

    # A missing file reads the same way.
    vector_file(reopened.store.data_dir, reopened.store.db.generation()).unlink()
    again = NewsEngine(fast_config, embedder=hashing_embedder)
    with pytest.raises(StoreMismatch, match="missing"):
        again.check()


def test_vector_count_disagreement_is_detected(fast_engine, fast_config, hashing_embedder):
    add(fast_engine, article(STORY, url="https://example.com/a"))
    db = fast_engine.store.db
    with db.transaction() as tx:
        tx.execute("DELETE FROM passages WHERE id = (SELECT MIN(id) FROM passages)")
    fresh = NewsEngine(fast_config, embedder=hashing_embedder)
    with pytest.raises(StoreMismatch, match="vectors but the database has"):
        fresh.check()


def test_a_different_model_is_detected(fast_engine, fast_config):
    add(fast_engine, article(STORY))
    other = NewsEngine(fast_config, embedder=HashingEmbedder(name="another-model"))
    with pytest.raises(StoreMismatch, match="another-model"):
        other.check()
    other.rebuild()  # re-embeds with the new model
    other.check()
    assert other.stats().model == "another-model"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_every_index_type_adds_removes_and_searches(tmp_path, hashing_embedder, kind):
    from tests.conftest import make_fast_config

    engine = NewsEngine(make_fast_config(tmp_path / kind, index={"type": kind}),
                        embedder=hashing_embedder)
    items = [article(f"Story {i} about topic{i} happened. Details of topic{i} follow here.",
                     url=f"https://example.com/{i}") for i in range(300)]
    add(engine, *items)
    engine.remove(["https://example.com/5"])
    consistent(engine)
    assert engine.stats().index_type == kind
    hits = engine.searcher.search("topic42 details", limit=3)
    assert hits[0].passage.article.url == "https://example.com/42"
    engine.close()


def test_stats_report_the_store(fast_engine):
    add(fast_engine, article(STORY, url="https://example.com/a"))
    stats = fast_engine.stats()
    assert (stats.articles, stats.model, stats.index_type) == (1, "hashing-test-embedder", "flat")
    assert stats.passages >= 1 and stats.size_bytes > 0 and stats.last_change


def test_size_on_disk_skips_a_file_that_goes_while_it_counts(fast_engine, monkeypatch):
    """SQLite's -shm file can vanish between listing the folder and reading its size."""
    from pathlib import Path

    store = fast_engine.store
    before = store.size_on_disk()
    going = store.data_dir / "bot.sqlite3-shm"
    going.write_bytes(b"x" * 1000)
    real_stat = Path.stat
    calls = {"n": 0}

    def stat(self, *args, **kwargs):
        if self == going:
            calls["n"] += 1
            if calls["n"] > 1:  # is_file() saw it; then it is gone
                going.unlink(missing_ok=True)
                raise FileNotFoundError(str(self))
        return real_stat(self, *args, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    assert store.size_on_disk() == before
    assert calls["n"] == 2  # the race really happened


def test_close_closes_every_threads_connection(tmp_path):
    """The search's worker threads open connections of their own: `close` closes them too,
    and a thread that asks again afterwards gets a new, working one."""
    db = Database(tmp_path / "news.sqlite3")
    with ThreadPoolExecutor(max_workers=1) as worker:
        theirs = worker.submit(db.connection).result()
        mine = db.connection()
        db.close()
        for conn in (theirs, mine):
            with pytest.raises(sqlite3.ProgrammingError, match="closed"):
                conn.execute("SELECT 1")
        again = worker.submit(db.connection).result()
        assert again is not theirs
        assert worker.submit(lambda: again.execute("SELECT 1").fetchone()).result() == (1,)
    db.close()


def test_a_generation_read_just_before_a_write_does_not_load_its_removed_file(
    fast_engine, monkeypatch
):
    """A question reads the store's generation, a write commits the next one and removes the
    old vector file, then the question asks for the index: it gets the new one, not an error
    about the missing file."""
    add(fast_engine, article(STORY, url="https://example.com/a"))
    store = fast_engine.store
    old = store.db.generation()
    add(fast_engine, article("Storm hits the coast. Thousands lose power.",
                             url="https://example.com/b"))
    assert not vector_file(store.data_dir, old).exists()
    real = store.db.generation
    stale = iter([old])  # the first read is the one taken before the write
    monkeypatch.setattr(store.db, "generation", lambda: next(stale, None) or real())
    index = store.vector_index()
    assert index.size == store.db.counts()[1]
