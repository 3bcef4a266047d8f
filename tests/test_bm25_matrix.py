"""The in-memory BM25 matrix (index/sqlite/bm25.py) answers the lexical search exactly as FTS5
does: the same passages in the same order with the same scores, in collection scopes and
under filters, after writes (brought up to date from the previous generation), and FTS5
answers whatever the matrix cannot mirror, before it is ready and for a store too big."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from index.search import Filters
from index.sqlite import bm25, lexical
from index.sqlite.database import Database
from tests.conftest import make_fast_config

# Real English words, so that Porter stemming joins some ("elections", "elected") and a
# question can hold two words of one stem, which FTS5 counts twice.
WORDS = (
    "election elections elected voters vote voting senate senator budget budgets court courts "
    "ruling ruled storm storms flooding flood river rivers minister ministers trade tariffs "
    "market markets shares price prices oil gas energy strike strikers union unions police "
    "protest protesters city council mayor school schools teacher teachers hospital doctors"
).split()


def article(i: int, rng: random.Random, collection_title: str = "") -> ArticleInput:
    text = " ".join(rng.choices(WORDS, k=rng.randint(8, 40))) + "."
    title = " ".join(rng.choices(WORDS, k=3)) + collection_title
    return ArticleInput(
        text=text, title=title, url=f"https://example.com/{i}", source=f"Paper {i % 3}",
        published=f"2025-01-{1 + i % 28:02d}", origin=f"https://example.com/{i}",
    )


def questions(rng: random.Random, n: int = 60) -> list[list[str]]:
    asked = [rng.sample(WORDS, rng.randint(1, 6)) for _ in range(n)]
    asked += [["elections", "elected"], ["storm", "storms", "flood"], ["unknownword"], []]
    return asked


def fts5(db: Database, terms: list[str], limit: int, where=None) -> list[tuple[int, float]]:
    """FTS5's own answer: the same database read by a Database that keeps no matrix."""
    plain = Database(db.path)
    try:
        return plain.lexical_search(terms, limit, where)
    finally:
        plain.close()


def assert_same(ours: list[tuple[int, float]], theirs: list[tuple[int, float]]) -> None:
    assert [pid for pid, _ in ours] == [pid for pid, _ in theirs]
    assert [score for _, score in ours] == pytest.approx([s for _, s in theirs], rel=1e-12)


@pytest.fixture
def engine(tmp_path: Path):
    engine = NewsEngine(make_fast_config(tmp_path / "data"), embedder=HashingEmbedder())
    rng = random.Random(3)
    engine.add_articles(ReadResult([article(i, rng) for i in range(120)]))
    yield engine
    engine.close()


def test_the_matrix_ranks_exactly_as_fts5(engine: NewsEngine) -> None:
    db = engine.store.db
    asked = questions(random.Random(5))
    expected = [fts5(db, terms, 20) for terms in asked]
    assert engine.keep_lexical_index(wait_s=60)
    matrix = db.bm25_matrix()
    assert matrix is not None and matrix.passages == db.counts()[1]
    keeper = db._bm25
    assert keeper is not None
    for terms, theirs in zip(asked, expected, strict=True):
        assert_same(db.lexical_search(terms, 20), theirs)
        if terms:  # and the matrix answered it, not FTS5
            assert_same(keeper.search(matrix, list(dict.fromkeys(terms)), 20, None), theirs)
    assert any(len(e) == 20 for e in expected) and any(len(e) < 20 for e in expected)


def test_within_a_collection_or_a_filter_the_matrix_ranks_as_fts5(engine: NewsEngine) -> None:
    db = engine.store.db
    rng = random.Random(9)
    engine.add_articles(ReadResult([article(1000 + i, rng) for i in range(15)]),
                        collection="guild:1")
    assert engine.keep_lexical_index(wait_s=60)
    for where in (
        db.passage_filter(["guild:1"]),
        db.passage_filter(["shared"], source="Paper 1"),
        db.passage_filter(None, since="2025-01-10", until="2025-01-20"),
    ):
        assert where is not None
        for terms in questions(random.Random(11), 25):
            assert_same(db.lexical_search(terms, 10, where), fts5(db, terms, 10, where))


def test_after_writes_the_matrix_is_brought_up_to_date_from_the_last_one(
    engine: NewsEngine,
) -> None:
    db = engine.store.db
    conn = db.connection()
    _, first = lexical.read_matrix(db, conn)
    rng = random.Random(13)
    engine.add_articles(ReadResult([article(2000 + i, rng) for i in range(6)] + [ArticleInput(
        text="An aardvark crossed the flooded river.", title="Aardvark",
        url="https://example.com/aardvark", origin="https://example.com/aardvark",
    )]))
    engine.remove(["https://example.com/3", "https://example.com/40"])
    _, updated = lexical.read_matrix(db, conn, first)
    _, whole = lexical.read_matrix(db, conn, None)
    assert first is not None and updated is not None and whole is not None
    assert updated.generation == whole.generation == db.generation() > first.generation
    # the update kept the first matrix's word numbering and appended the new words, where a
    # whole build numbers words in FTS5's (alphabetical) order
    assert list(updated.words)[: len(first.words)] == list(first.words)
    assert list(updated.words)[len(first.words):] == ["aardvark", "an", "cross", "the"]
    assert whole.words["aardvark"] == 0
    assert list(updated.ids) == list(whole.ids) == db.all_passage_ids()
    assert list(updated.lengths) == list(whole.lengths)
    for word, column in whole.words.items():
        mine = updated.words[word]
        for matrix, j in ((updated, mine), (whole, column)):
            assert list(matrix.rows[matrix.starts[j]:matrix.starts[j + 1]]) == sorted(
                matrix.rows[matrix.starts[j]:matrix.starts[j + 1]]
            )
        assert list(updated.rows[updated.starts[mine]:updated.starts[mine + 1]]) == list(
            whole.rows[whole.starts[column]:whole.starts[column + 1]]
        )
        assert list(updated.frequencies[updated.starts[mine]:updated.starts[mine + 1]]) == list(
            whole.frequencies[whole.starts[column]:whole.starts[column + 1]]
        )
    # and a running keeper catches up by itself after a write, the searches meanwhile FTS5's
    assert engine.keep_lexical_index(wait_s=60)
    before = db.bm25_matrix()
    engine.add_articles(ReadResult([article(3000, rng)]))
    terms = ["storm", "elections", "court"]
    assert_same(db.lexical_search(terms, 15), fts5(db, terms, 15))  # FTS5, or caught up
    keeper = db._bm25
    assert keeper is not None and keeper._thread is not None
    keeper._thread.join(60)
    caught_up = db.bm25_matrix()
    assert caught_up is not None and caught_up is not before
    assert caught_up.generation == db.generation()
    assert_same(db.lexical_search(terms, 15), fts5(db, terms, 15))


def test_a_word_fts5_splits_into_a_phrase_is_left_to_fts5(engine: NewsEngine) -> None:
    db = engine.store.db
    engine.add_articles(ReadResult([
        ArticleInput(text="The storm_surge hit the coast.", title="Coast",
                     url="https://example.com/a", origin="https://example.com/a"),
        ArticleInput(text="A surge of voters, then a storm.", title="Vote",
                     url="https://example.com/b", origin="https://example.com/b"),
    ]))
    assert engine.keep_lexical_index(wait_s=60)
    stems = bm25.Stemmer().stems(db.connection(), ["storm_surge", "Elections"])
    assert stems == [("storm", "surg"), ("elect",)]
    found = db.lexical_search(["storm_surge"], 50)
    assert_same(found, fts5(db, ["storm_surge"], 50))
    # FTS5 reads the word as the phrase "storm surg": only adjacent words match
    texts = db.passages([pid for pid, _ in found], {})
    assert [row.text for row in texts.values()] == ["The storm_surge hit the coast."]


def test_a_store_above_the_size_limit_keeps_no_matrix(
    engine: NewsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lexical, "BM25_MATRIX_MAX_PASSAGES", 10)
    db = engine.store.db
    assert engine.keep_lexical_index(wait_s=60)  # the first build ended: it kept nothing
    assert db.bm25_matrix() is None
    assert_same(db.lexical_search(["storm"], 10), fts5(db, ["storm"], 10))


def test_closing_the_store_stops_a_build_and_searches_go_on_with_fts5(
    engine: NewsEngine,
) -> None:
    db = engine.store.db
    engine.keep_lexical_index()
    db.close()  # whether the build had finished or not
    assert db._bm25 is None and db.bm25_matrix() is None
    assert_same(db.lexical_search(["court", "ruling"], 10), fts5(db, ["court", "ruling"], 10))


def test_answers_are_the_same_with_the_matrix(engine: NewsEngine) -> None:
    asked = ["What did the court rule on the budget?", "Which city had flooding?"]
    def answers() -> list[tuple[str, list[int]]]:
        engine.searcher._kept = type(engine.searcher._kept)(-1, 0)  # nothing cached
        return [
            (a.answer, [r.passage_id for r in a.retrieved]) for a in map(engine.ask, asked)
        ]

    def in_scope() -> list[tuple[int, float, int | None]]:
        hits = engine.searcher.search("court budget", filters=Filters(collections=("shared",)))
        return [(h.passage.id, h.score, h.lexical_rank) for h in hits]

    before, scoped = answers(), in_scope()
    assert engine.keep_lexical_index(wait_s=60)
    assert engine.store.db.bm25_matrix() is not None
    assert answers() == before
    assert in_scope() == scoped and any(rank is not None for _, _, rank in scoped)


def test_a_build_that_fails_leaves_fts5_answering_and_is_not_retried_until_a_write(
    engine: NewsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing(*args):
        calls.append(args)
        raise MemoryError("no room for the matrix")

    monkeypatch.setattr(lexical, "build", failing)
    db = engine.store.db
    assert engine.keep_lexical_index(wait_s=60)
    keeper = db._bm25
    assert keeper is not None and keeper._thread is not None
    keeper._thread.join(60)
    assert len(calls) == 1
    assert_same(db.lexical_search(["storm"], 10), fts5(db, ["storm"], 10))
    assert db.bm25_matrix() is None
    keeper._thread.join(60)
    assert len(calls) == 1  # the same generation is not tried again on every search
    engine.add_articles(ReadResult([article(4000, random.Random(1))]))
    db.lexical_search(["storm"], 10)  # a new generation: tried again
    keeper._thread.join(60)
    assert len(calls) == 2
