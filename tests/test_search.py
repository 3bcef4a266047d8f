"""Hybrid retrieval: fusion, filters, near-duplicate collapse and the per-article cap."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime

import pytest

from index.errors import InputError
from index.models import ArticleInput, ReadResult
from index.search import Filters


def add(engine, *items):
    engine.add_articles(ReadResult(articles=list(items)))


def test_a_rare_word_is_found_through_the_full_text_index(backend_engine):
    add(backend_engine, *[
        ArticleInput(text=f"Ordinary report number {i} about the weather and traffic today.",
                     url=f"https://example.com/{i}", title=f"Report {i}")
        for i in range(30)
    ], ArticleInput(text="The zyxbridge opened to traffic on Monday after two years.",
                    url="https://example.com/bridge", title="Bridge opens"))
    hits = backend_engine.searcher.search("When did the zyxbridge open?", limit=3)
    assert hits[0].passage.article.url == "https://example.com/bridge"
    assert hits[0].lexical_rank == 1


def test_filters_by_source_and_date(backend_engine):
    add(backend_engine,
        ArticleInput(text="Flooding closed the river road. Crews worked overnight.",
                     url="https://a.example.com/1", source="Alpha News", published="2025-01-10"),
        ArticleInput(text="Flooding closed the river road again. Crews returned.",
                     url="https://b.example.com/2", source="Beta Post", published="2025-03-02"),
        ArticleInput(text="Flooding warnings were issued for the river road.",
                     url="https://c.example.com/3", source="Gamma", published=None))
    search = backend_engine.searcher.search

    def urls(f):
        return {h.passage.article.url for h in search("river road flooding", filters=f)}
    assert urls(Filters(source="Beta Post")) == {"https://b.example.com/2"}
    assert urls(Filters(source="a.example.com")) == {"https://a.example.com/1"}
    assert urls(Filters(since="2025-02-01")) == {"https://b.example.com/2"}
    assert urls(Filters(until="2025-02-01")) == {"https://a.example.com/1"}
    assert urls(Filters(source="Nobody")) == set()
    answer = backend_engine.ask("river road flooding", since="2025-02-01")
    assert {r.url for r in answer.retrieved} == {"https://b.example.com/2"}


def test_near_duplicates_collapse_and_one_article_cannot_crowd_out_the_rest(backend_engine):
    wire = ("The central bank raised interest rates by half a point on Thursday. "
            "Officials said inflation remained too high.")
    add(backend_engine,
        ArticleInput(text=wire, url="https://one.example.com/rates", title="Rates rise"),
        ArticleInput(text=wire + " Markets fell.", url="https://two.example.com/rates",
                     title="Rates rise"),
        ArticleInput(text=" ".join(f"Interest rates part {i} explained in detail here."
                                   for i in range(60)),
                     url="https://long.example.com/explainer", title="Interest rates explained"),
        ArticleInput(text="Interest rates at the central bank worry savers.",
                     url="https://three.example.com/savers", title="Savers worry"))
    hits = backend_engine.searcher.search("central bank interest rates", limit=10)
    per_article = {}
    for hit in hits:
        per_article[hit.passage.article.url] = per_article.get(hit.passage.article.url, 0) + 1
    assert max(per_article.values()) <= backend_engine.config.store.search.per_article
    # The wire story appears once, not twice.
    assert len({"https://one.example.com/rates", "https://two.example.com/rates"}
               & set(per_article)) == 1
    assert "https://three.example.com/savers" in per_article


def test_bad_dates_and_questions_are_input_errors(fast_engine):
    with pytest.raises(InputError, match="--since"):
        fast_engine.ask("anything", since="last tuesday")
    with pytest.raises(InputError, match="empty"):
        fast_engine.ask("   ")
    with pytest.raises(InputError, match="longer than"):
        fast_engine.ask("why " * 500)


def test_as_of_is_checked_at_the_engine_and_reaches_the_answer(fast_engine):
    add(fast_engine,
        ArticleInput(text="The mayor opened the new harbour bridge on Monday.",
                     url="https://a.example.com/old", published="2024-05-06"),
        ArticleInput(text="The governor opened the rebuilt harbour bridge on Friday.",
                     url="https://b.example.com/new", published="2025-05-09"))
    question = "Who opened the harbour bridge?"
    for bad in ("last tuesday", "2025-13-01", "", 20250101):
        with pytest.raises(InputError, match="--as-of"):
            fast_engine.ask(question, as_of=bad)
    # A string, a date and a datetime name the same day, and the engine passes it through.
    leads = [
        fast_engine.ask(question, as_of=as_of).citations[0].url
        for as_of in ("2024-05-07", date(2024, 5, 7), datetime(2024, 5, 7, 23, 59),
                      "2025-05-10")
    ]
    assert leads == ["https://a.example.com/old"] * 3 + ["https://b.example.com/new"]
    direct = fast_engine.read(question, as_of="2025-05-10")
    assert fast_engine.ask(question, as_of="2025-05-10").answer == direct.answer


def test_closing_the_engine_waits_for_a_lexical_search_started_ahead(backend_engine):
    """`embed_query` starts the question's lexical search on a worker thread, and a search
    that fails after it (a store made for another model) leaves that running. Closing the
    engine must wait for it: closing SQLite under a running query crashed the whole test run
    (CI, exit 139, in `lexical_search` on a worker)."""
    add(backend_engine, ArticleInput(text="The ferry resumed service after the storm.",
                                     url="https://example.com/ferry", title="Ferry"))
    db = backend_engine.store.db
    real = db.lexical_search
    entered, finished = threading.Event(), []

    def slow_lexical_search(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        time.sleep(0.5)
        finished.append(real(*args, **kwargs))
        return finished[-1]

    db.lexical_search = slow_lexical_search  # type: ignore[method-assign]
    backend_engine.searcher.embed_query("When did the ferry resume?")
    assert entered.wait(10)
    backend_engine.close()
    assert len(finished) == 1 and finished[0], "the store was closed under a running search"
