"""Retention: index.max_age_days and index.max_articles_per_collection; what expires leaves
the store with its vectors, in one atomic write (one new generation)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from tests.conftest import make_fast_config

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def story(n: int, published: str | None) -> ArticleInput:
    return ArticleInput(
        text=f"Report {n}: the council approved plan number {n} for the harbour on Monday.",
        title=f"Story {n}", url=f"https://example.com/{n}", published=published,
    )


def engine_with(tmp_path, **index: int) -> NewsEngine:
    engine = NewsEngine(make_fast_config(tmp_path / "data", index=index),
                        embedder=HashingEmbedder())
    engine.add_articles(ReadResult(articles=[
        story(1, "2025-01-10"), story(2, "2025-05-20"), story(3, "2025-05-31T08:00:00"),
        story(4, "2024-12-01"),
    ]))
    return engine


def test_articles_older_than_max_age_days_expire_with_their_vectors(tmp_path):
    engine = engine_with(tmp_path, max_age_days=30)
    try:
        generation = engine.store.db.generation()
        report = engine.expire(now=NOW)
        assert sorted(a.title for a in report.removed) == ["Story 1", "Story 4"]
        assert sorted(a.title for a in engine.store.db.all_articles()) == ["Story 2", "Story 3"]
        assert engine.store.db.generation() == generation + 1  # one atomic write
        articles, passages = engine.store.db.counts()
        assert engine.store.vector_index().size == passages and articles == 2
        engine.check()
        assert engine.expire(now=NOW).removed == []  # nothing more to do
    finally:
        engine.close()


def test_the_article_cap_keeps_the_newest(tmp_path):
    engine = engine_with(tmp_path, max_articles_per_collection=2)
    try:
        removed = engine.expire(now=NOW).removed
        assert sorted(a.title for a in removed) == ["Story 1", "Story 4"]
        assert sorted(a.title for a in engine.store.db.all_articles()) == ["Story 2", "Story 3"]
        engine.check()
    finally:
        engine.close()


def test_the_cap_is_per_collection_and_shared_articles_stay_while_held(tmp_path):
    engine = NewsEngine(make_fast_config(tmp_path / "data",
                                         index={"max_articles_per_collection": 1}),
                        embedder=HashingEmbedder())
    try:
        old, new = story(1, "2025-01-10"), story(2, "2025-05-20")
        engine.add_articles(ReadResult(articles=[old, new]), collection="guild:1")
        engine.add_articles(ReadResult(articles=[old]), collection="guild:2")
        generation = engine.store.db.generation()
        report = engine.expire(now=NOW)
        db = engine.store.db
        # guild:1 keeps its newest; the old story stays stored because guild:2 holds it.
        assert [a.title for a in report.removed] == ["Story 1"] and report.deleted == []
        assert [a.title for a in db.articles_in("guild:1")] == ["Story 2"]
        assert [a.title for a in db.articles_in("guild:2")] == ["Story 1"]
        assert db.generation() == generation  # no vector changed
        engine.add_articles(ReadResult(articles=[story(3, "2025-05-30")]), collection="guild:2")
        report = engine.expire(now=NOW)
        assert [a.title for a in report.deleted] == ["Story 1"]  # no collection holds it now
        assert db.article_by_url("https://example.com/1") is None
        engine.check()
    finally:
        engine.close()


def test_retention_is_off_by_default(tmp_path):
    engine = engine_with(tmp_path)
    try:
        assert engine.expire(now=NOW).removed == []
        assert len(engine.store.db.all_articles()) == 4
    finally:
        engine.close()
