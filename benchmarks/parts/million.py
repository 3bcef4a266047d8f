"""The million part: a synthetic SQLite + FAISS IVF store of `--million` passages (also the
source of the pg1m part), asked the real questions with the real model."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from parts.common import (
    SYNTHETIC_NOTE,
    engine_for,
    peak_rss_mb,
    percentiles,
    questions,
    timed_answers,
    word_frequencies,
)


def build_synthetic(args: argparse.Namespace, tmp: Path) -> dict:
    """A synthetic SQLite + FAISS IVF store of `--million` passages in `tmp` (text drawn at
    random from the real articles' word frequencies, random unit vectors); seconds taken."""
    import numpy as np

    from index.collections import SHARED
    from index.models import Article, now_iso
    from index.settings import IndexSettings
    from index.sqlite.database import Database
    from index.sqlite.store import DB_NAME
    from index.sqlite.vectors import VectorIndex, vector_file

    rng = np.random.default_rng(0)
    vocab, p = word_frequencies(args.articles)
    per_article, words_per_passage = 10, args.million_words
    settings = IndexSettings(type="ivf", ivf_nlist=args.nlist, ivf_nprobe=args.nprobe)
    started = time.perf_counter()
    db = Database(tmp / DB_NAME)
    ids: list[int] = []
    draws = rng.choice(len(vocab), size=(args.million, words_per_passage), p=p)
    stamp = now_iso()
    with db.transaction() as tx:
        for a in range(0, args.million, per_article):
            article = Article(
                id=f"synthetic-{a}", title=f"Synthetic article {a}", url=None, source=None,
                published=None, author=None, text="", content_hash=f"h{a}",
                added_at=stamp, updated_at=stamp,
            )
            texts = [" ".join(vocab[j] for j in row) + "."
                     for row in draws[a : a + per_article]]
            db.upsert_article(tx, article)
            ids += db.insert_passages(tx, article, texts)
        # Every article in the shared collection, as `newsbot index add` puts it: a question
        # searches the shared collection, which must hold them (else it searches nothing).
        db.add_members(tx, SHARED, (f"synthetic-{a}" for a in range(0, args.million, per_article)))
    del draws
    rows_s = time.perf_counter() - started
    vectors = rng.standard_normal((args.million, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    index = VectorIndex.build(384, settings, np.asarray(ids, dtype=np.int64), vectors)
    del vectors
    faiss_s = time.perf_counter() - started
    with db.transaction() as tx:
        for key, value in (("model", "default"), ("dimension", "384"), ("index_type", "ivf"),
                           ("last_change", now_iso()), ("generation", "1")):
            db.set_meta(tx, key, value)
        index.save(vector_file(tmp, 1))
    db.close()
    return {"build_rows_s": round(rows_s, 1), "build_faiss_s": round(faiss_s, 1),
            "words_per_passage": words_per_passage}


def phase_million(args: argparse.Namespace) -> dict:
    import numpy as np

    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings
    from index.sqlite.store import DB_NAME

    tmp = args.million_dir or Path(tempfile.mkdtemp(prefix="newsbot-bench-1m-"))
    if args.million_dir and (tmp / DB_NAME).exists():
        raise SystemExit(f"{tmp} already holds a store")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        built = build_synthetic(args, tmp)
        embedder = SentenceTransformerEmbedder(ModelSettings())
        engine = engine_for(tmp, embedder, "ivf", ivf_nlist=args.nlist, ivf_nprobe=args.nprobe)
        qs = questions(args.questions)
        vector_index = engine.store.vector_index()
        qvecs = np.vstack([embedder.embed([q]) for q, _ in qs])
        faiss_ms = []
        for qv in qvecs:
            t = time.perf_counter()
            vector_index.search(qv, engine.searcher.settings.candidates)
            faiss_ms.append((time.perf_counter() - t) * 1000)
        ms = timed_answers(engine, qs)
        return {
            "passages": engine.store.db.counts()[1], "index": vector_index.kind,
            "nlist": args.nlist, "nprobe": args.nprobe, **built,
            "faiss_only": percentiles(faiss_ms), "answer": percentiles(ms),
            "note": SYNTHETIC_NOTE, "peak_rss_mb": round(peak_rss_mb()),
        }
    finally:
        if not args.million_dir:
            shutil.rmtree(tmp, ignore_errors=True)
