"""The query path's speed measures change no result: the lexical search started ahead of the
embedding, rows read as the list is walked, and the article cache. A write committed
mid-search makes it search again. (The question encoder has tests of its own.)"""

from __future__ import annotations

import threading
from contextlib import contextmanager

from index.models import ArticleInput, ReadResult
from index.search import Filters, _GenerationCache, _pool

WORDS = "harbour bridge council budget river flood school museum heist rally".split()


def add(engine, *items):
    engine.add_articles(ReadResult(articles=list(items)))


def many_articles(n: int = 40):
    return [
        ArticleInput(
            text=" ".join(f"Report {i} on the {WORDS[(i + j) % len(WORDS)]} and the "
                          f"{WORDS[(i * 3 + j) % len(WORDS)]} today." for j in range(6)),
            url=f"https://example.com/{i}", title=f"Report {i} {WORDS[i % len(WORDS)]}")
        for i in range(n)
    ]


def plain_search(searcher, query, **kw):
    """The search with nothing started ahead and nothing kept: the reference result."""
    searcher._kept = _GenerationCache(-1, 0)
    searcher._ahead.pending = None
    vector = searcher.store.embedder.embed([query])[0]
    return searcher.search(query, query_vector=vector, **kw)


def same(a, b):
    return [(h.passage.id, h.score, h.similarity, h.lexical_rank, h.passage.article)
            for h in a] == [(h.passage.id, h.score, h.similarity, h.lexical_rank,
                             h.passage.article) for h in b]


@contextmanager
def busy_workers():
    """Every worker of the lexical search pool held until the block ends."""
    pool = _pool()
    release = threading.Event()
    holding = [threading.Event() for _ in range(pool._max_workers)]
    held = [pool.submit(lambda e=e: e.set() or release.wait(10)) for e in holding]
    assert all(e.wait(5) for e in holding)
    try:
        yield
    finally:
        release.set()
        for future in held:
            future.result()


def test_the_lexical_search_started_ahead_gives_the_same_hits(fast_engine, monkeypatch):
    add(fast_engine, *many_articles())
    searcher = fast_engine.searcher
    where: list[str] = []
    lexical_search = type(searcher.store.db).lexical_search

    def spy(db, *args, **kw):
        where.append(threading.current_thread().name)
        return lexical_search(db, *args, **kw)

    monkeypatch.setattr(type(searcher.store.db), "lexical_search", spy)
    main = threading.current_thread().name
    for query in ("harbour bridge budget", "river flood school", "museum heist rally"):
        expected = plain_search(searcher, query, limit=12)
        assert where.pop() == main
        vector = searcher.embed_query(query)  # starts the lexical search on a worker
        searcher._ahead.pending[1].result()  # (the test embedder is too quick to overlap)
        got = searcher.search(query, limit=12, query_vector=vector)
        assert searcher._ahead.pending is None
        assert same(got, expected)
        assert where.pop().startswith("newsbot-lexical") and not where
        # Not begun yet when the search wants it (every worker busy): done in this thread.
        with busy_workers():
            assert same(searcher.search(query, limit=12), expected)
        assert where == [main]
        where.clear()


def test_a_search_for_other_text_or_with_filters_ignores_what_was_started(fast_engine):
    add(fast_engine, *many_articles(), *[
        ArticleInput(text=f"Harbour bridge report {i}: the harbour bridge closes again.",
                     url=f"https://other.example.org/{i}", title=f"Harbour bridge {i}")
        for i in range(5)
    ])
    searcher = fast_engine.searcher
    expected = plain_search(searcher, "river flood school", limit=8)
    searcher.embed_query("harbour bridge budget")
    searcher._ahead.pending[1].result()  # finished, and still not used
    assert same(searcher.search("river flood school", limit=8), expected)
    assert searcher._ahead.pending is None
    filters = Filters(source="example.com")
    expected = plain_search(searcher, "harbour bridge", limit=8, filters=filters)
    assert expected and not any("other.example.org" in h.passage.article.url for h in expected)
    unfiltered = plain_search(searcher, "harbour bridge", limit=8)
    assert any("other.example.org" in h.passage.article.url for h in unfiltered)
    vector = searcher.embed_query("harbour bridge")
    searcher._ahead.pending[1].result()  # the unfiltered search, done: not used either
    assert same(searcher.search("harbour bridge", limit=8, filters=filters,
                                query_vector=vector), expected)


def test_a_write_after_the_lexical_search_started_is_seen(fast_engine):
    add(fast_engine, *many_articles(10))
    searcher = fast_engine.searcher
    vector = searcher.embed_query("zyxquay opening")
    searcher._ahead.pending[1].result()  # it finished before the write
    add(fast_engine, ArticleInput(text="The zyxquay opened on Monday after two years.",
                                  url="https://example.com/quay", title="Quay opens"))
    hits = searcher.search("zyxquay opening", limit=3, query_vector=vector)
    assert hits[0].passage.article.url == "https://example.com/quay"
    assert hits[0].lexical_rank == 1


def test_an_updated_article_is_not_served_from_the_article_cache(fast_engine):
    add(fast_engine, *many_articles(10))
    searcher = fast_engine.searcher
    first = searcher.search("harbour bridge", limit=10)
    assert searcher._cache().articles  # articles were kept for this generation
    url = first[0].passage.article.url
    text = fast_engine.store.find(url).text
    add(fast_engine, ArticleInput(text=text, url=url, title="A new title"))
    again = searcher.search("harbour bridge", limit=10)
    titles = {h.passage.article.url: h.passage.article.title for h in again}
    assert titles[url] == "A new title"


def test_a_write_committed_during_a_search_makes_it_search_again(fast_engine, monkeypatch):
    add(fast_engine, *many_articles(10))
    searcher = fast_engine.searcher
    db_type = type(searcher.store.db)
    passages = db_type.passages
    rebuilt: list[bool] = []

    def rebuild_first(db, *args, **kw):
        if not rebuilt:  # after FAISS and FTS5, before the rows: every passage renumbered
            rebuilt.append(True)
            fast_engine.store.rebuild()
        return passages(db, *args, **kw)

    monkeypatch.setattr(db_type, "passages", rebuild_first)
    vector = searcher.store.embedder.embed(["harbour bridge"])[0]
    hits = searcher.search("harbour bridge", limit=8, query_vector=vector)
    monkeypatch.undo()
    assert rebuilt
    expected = plain_search(searcher, "harbour bridge", limit=8)
    assert len(expected) == 8 and same(hits, expected)


def test_passage_rows_come_in_id_order_and_fill_the_article_cache(fast_engine):
    add(fast_engine, *many_articles(5))
    db = fast_engine.store.db
    ids = db.all_passage_ids()
    cache: dict = {}
    rows = db.passages([ids[3], ids[0], 10**9, ids[2]], cache)
    assert list(rows) == [ids[0], ids[2], ids[3]]  # a missing id is simply absent
    assert set(cache) == {r.article.id for r in rows.values()}
    again = db.passages([ids[0]], cache)
    assert again[ids[0]].article is rows[ids[0]].article  # from the cache
    assert db.passages([ids[0]])[ids[0]] == rows[ids[0]]


def test_word_counts_are_never_taken_from_a_cache_still_being_built(fast_engine, monkeypatch):
    add(fast_engine, *many_articles(10))
    searcher = fast_engine.searcher
    db = searcher.store.db
    words = ["harbour", "report", "museum"]
    expected = searcher.idf(words)
    searcher._kept = _GenerationCache(-1, 0)
    counts = db.counts
    first_waits, other_done = threading.Event(), threading.Event()

    def slow_first_count():
        if not first_waits.is_set():
            first_waits.set()
            other_done.wait(5)  # this thread's cache is unfinished while the other counts
        return counts()

    monkeypatch.setattr(db, "counts", slow_first_count)
    first: dict = {}
    worker = threading.Thread(target=lambda: first.update(searcher.idf(words)))
    worker.start()
    assert first_waits.wait(5)
    assert searcher.idf(words) == expected
    other_done.set()
    worker.join(5)
    assert first == expected


def test_collection_lookups_of_a_few_articles_do_not_list_the_whole_collection(fast_engine):
    """Story versions (asked for on every answer) and an article looked up by URL in a
    collection check each article's membership; listing every article of the collection
    first cost time in proportion to the collection (0.39 ms at 2,300 articles, 0.03 after)."""
    add(fast_engine, *many_articles(5))
    db = fast_engine.store.db
    conn = db.connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert db.story_articles(["no-such-story"], ["shared"]) == {}
        assert db.article_by_url("https://example.com/1", "shared") is not None
    finally:
        conn.set_trace_callback(None)
    looked_up = [s for s in statements if "article_collections" in s]
    assert len(looked_up) == 2
    for statement in looked_up:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement)]
        assert not any("LIST SUBQUERY" in step for step in plan), plan
        assert any("collection=? AND article_id=?" in step for step in plan), plan
