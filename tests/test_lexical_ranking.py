"""The lexical half of the search ranks alike on both backends: a rarer word weighs more than
a commoner one (FTS5's BM25, and PostgreSQL's sum of BM25's inverse passage frequencies);
PostgreSQL's search scores only the passages holding the rarest words or two of the others.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from index.postgres import lexical as pg_lexical
from tests.conftest import backend_config

# Made-up words, so that no stemmer or stop list treats them specially; drawn with Zipf's
# law, as words are in news.
VOCAB = [f"w{c1}{c2}x" for c1 in "bcdfghjklm" for c2 in "aeiou"]


def zipf_corpus(n: int, seed: int = 7) -> list[ArticleInput]:
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(VOCAB))]
    items = []
    for i in range(n):
        text = " ".join(rng.choices(VOCAB, weights, k=12)) + "."
        items.append(ArticleInput(
            text=text, title=f"Report {i}", url=f"https://example.com/{i}",
            source="Paper", published="2025-01-01", origin=f"https://example.com/{i}",
        ))
    return items


def engine_on(backend: str, tmp_path: Path, url: str | None) -> NewsEngine:
    return NewsEngine(backend_config(backend, tmp_path / backend, url),
                      embedder=HashingEmbedder())


def lexical_ids(engine: NewsEngine, question: str) -> list[int]:
    """The lexical search's passages for `question`, as a question's search runs it."""
    return [pid for pid, _ in engine.searcher._lexical(question).hits]


def texts(engine: NewsEngine, ids: list[int]) -> list[str]:
    rows = engine.store.db.passages(ids, {})
    return [rows[i].text for i in ids]


def test_a_rarer_word_outweighs_a_commoner_one_on_both_backends(tmp_path, pg_url):
    articles = [ArticleInput(
        text=f"The council met on day {i} and the council talked.", title=f"Day {i}",
        url=f"https://example.com/c{i}", source="Paper", origin=f"https://example.com/c{i}",
    ) for i in range(5)]
    articles.append(ArticleInput(  # added last: the highest passage id
        text="A zeppelin flew over the town.", title="Sky",
        url="https://example.com/z", source="Paper", origin="https://example.com/z",
    ))
    for backend, url in (("sqlite", None), ("postgres", pg_url)):
        engine = engine_on(backend, tmp_path, url)
        try:
            engine.add_articles(ReadResult(articles=articles))
            found = texts(engine, lexical_ids(engine, "council zeppelin"))
            assert len(found) == 6, backend
            assert "zeppelin" in found[0], backend
        finally:
            engine.close()


def test_both_backends_rank_the_same_passages_first(tmp_path, pg_url):
    corpus = zipf_corpus(300)
    rng = random.Random(3)
    questions = [" ".join(rng.sample(VOCAB, 4)) for _ in range(25)]
    lite, pg = engine_on("sqlite", tmp_path, None), engine_on("postgres", tmp_path, pg_url)
    try:
        for engine in (lite, pg):
            engine.add_articles(ReadResult(articles=corpus))
        shared = []
        for question in questions:
            a = set(texts(lite, lexical_ids(lite, question)[:10]))
            b = set(texts(pg, lexical_ids(pg, question)[:10]))
            shared.append(len(a & b) / max(1, len(a)))
        # BM25 counts a word twice where it is there twice and normalises for length, the
        # PostgreSQL ranking does neither: near, not equal (0.87 of the top ten shared;
        # ts_rank_cd, which weighs every word alike, shared 0.69).
        assert sum(shared) / len(shared) >= 0.8, shared
    finally:
        lite.close()
        pg.close()


def _article(key: str, text: str) -> ArticleInput:
    return ArticleInput(text=text, title=key, url=f"https://example.com/{key}", source="Paper",
                        origin=f"https://example.com/{key}")


def test_postgres_scores_only_the_rarest_words_passages_and_pairs_of_the_others(
    tmp_path, pg_url, monkeypatch
):
    articles = (
        [_article(f"busy{i}", f"The harbour was busy on day {i}.") for i in range(40)]
        + [_article(f"froze{i}", f"The harbour froze on day {i}.") for i in range(5)]
        + [_article(f"zep{i}", f"A zeppelin landed on day {i}.") for i in range(3)]
        + [_article("both", "A zeppelin landed in the harbour.")]
    )
    engine = engine_on("postgres", tmp_path, pg_url)
    try:
        engine.add_articles(ReadResult(articles=articles))
        db = engine.store.db

        def search(*words: str) -> list[str]:
            return texts(engine, [pid for pid, _ in db.lexical_search(list(words), 100)])

        # Every passage holding either word is scored while they are few...
        assert len(search("harbour", "zeppelin")) == 49
        # ...past the bound the commoner word's passages are left out, the rarer word's are
        # all there, the one holding both first;
        monkeypatch.setattr(pg_lexical, "RARE_ROWS", 10)
        found = search("harbour", "zeppelin")
        assert len(found) == 4
        assert all("zeppelin" in t for t in found)
        assert "harbour" in found[0]
        # ...and of two commoner words, the passages holding both are scored, not those
        # holding one.
        found = search("zeppelin", "harbour", "busy")
        assert len(found) == 44
        assert sum("zeppelin" in t for t in found) == 4
        assert not [t for t in found if "froze" in t]
    finally:
        engine.close()


@pytest.mark.parametrize("question", ["the of and", "qqqzzz", ""])
def test_words_no_passage_holds_find_nothing_on_postgres(tmp_path, pg_url, question):
    engine = engine_on("postgres", tmp_path, pg_url)
    try:
        engine.add_articles(ReadResult(articles=zipf_corpus(5)))
        assert engine.store.db.lexical_search(question.split(), 10) == []
    finally:
        engine.close()
