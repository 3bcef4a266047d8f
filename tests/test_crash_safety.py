"""A writer killed at any moment leaves the last consistent store, which loads and answers."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot.engine import NewsEngine
from index.models import ArticleInput, ReadResult
from tests.conftest import ROOT, make_fast_config
from tests.test_store import STORY, consistent

WRITER = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from bot.engine import NewsEngine
    from index.embedding import HashingEmbedder
    from index.models import ArticleInput, ReadResult
    import index.sqlite.vectors as vectors
    from tests.conftest import make_fast_config

    mode = sys.argv[1]
    engine = NewsEngine(make_fast_config({data!r}), embedder=HashingEmbedder())
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    if mode == "after-rename":
        real_save = vectors.VectorIndex.save
        def save(self, path):
            real_save(self, path)
            die()
        vectors.VectorIndex.save = save
    elif mode == "before-rename":
        vectors.os.replace = die
    elif mode == "mid-transaction":
        real_insert = engine.store.db.insert_passages
        def insert(tx, article, texts, entities=None):
            real_insert(tx, article, texts[:1], entities[:1] if entities else None)
            die()
        engine.store.db.insert_passages = insert
    i = 0
    while True:
        text = f"Report {{i}} says the river flooded the town. Officials counted {{i}} homes."
        item = ArticleInput(text=text, url=f"https://example.com/{{i}}", title=f"Flood {{i}}")
        engine.add_articles(ReadResult(articles=[item]))
        print(i, flush=True)
        i += 1
        if mode != "loop":
            break
    """
)


def run_writer(tmp_path: Path, data: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT), data=str(data)))
    return subprocess.Popen(
        [sys.executable, str(script), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT,
    )


def seeded(data: Path, hashing_embedder) -> None:
    engine = NewsEngine(make_fast_config(data), embedder=hashing_embedder)
    engine.add_articles(ReadResult(articles=[
        ArticleInput(text=STORY, url="https://example.com/budget", title="Budget")
    ]))
    engine.close()


@pytest.mark.parametrize("mode", ["before-rename", "after-rename", "mid-transaction"])
def test_writer_killed_mid_save_leaves_the_previous_store(tmp_path, hashing_embedder, mode):
    data = tmp_path / "data"
    seeded(data, hashing_embedder)
    proc = run_writer(tmp_path, data, mode)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()

    engine = NewsEngine(make_fast_config(data), embedder=hashing_embedder)
    assert consistent(engine)[0] == 1  # the killed add never happened
    answer = engine.ask("What did the council approve?")
    assert answer.retrieved[0].url == "https://example.com/budget"
    # The next write works and clears the leftovers of the killed one.
    engine.add_articles(ReadResult(articles=[ArticleInput(text="Storm hits the coast today.")]))
    assert consistent(engine)[0] == 2
    assert len(list(data.glob("vectors.*"))) == 1
    engine.close()


def test_writer_killed_at_random_moments(tmp_path, hashing_embedder):
    data = tmp_path / "data"
    seeded(data, hashing_embedder)
    for delay in (0.9, 1.3, 1.7):
        proc = run_writer(tmp_path, data, "loop")
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        engine = NewsEngine(make_fast_config(data), embedder=hashing_embedder)
        articles, _ = consistent(engine)
        assert articles >= 1
        assert engine.ask("What did the council approve?").retrieved
        engine.close()
