"""Speed benchmark: indexing throughput, query latency at ~20k and 1M passages, memory, cold start.

Run from the repository root (see benchmarks/README.md for the full recipe):

    .venv/bin/python benchmarks/bench.py --store /tmp/rtqa-store

Each part runs in its own process, so each reports its own peak memory (max RSS):

- index: the same passages embedded by bare `SentenceTransformer.encode` (same model, same
  batch size) and indexed end to end (`NewsEngine.add_articles`: cutting, embedding, SQLite
  and FTS5 rows, FAISS, the atomic commit), alternating, best of the rounds;
- query: `NewsEngine.ask` per question, as of the day it was asked (as `newsbot eval` asks),
  on a real store (`--store`, e.g. the one `newsbot eval realtimeqa --data-dir` keeps), the
  model loaded, after a warm-up;
- million: a synthetic store of `--million` passages (text drawn at random from the real
  articles' vocabulary, random unit vectors) with the approximate IVF index, asked the real
  questions with the real model;
- cold: `newsbot ask` as a new process on a small store, wall-clock;
- collections (not in the default set): `--million` synthetic passages over `--collections`
  collections, a question searching one server's collection plus the shared one: one index
  with a FAISS id selector (flat, IVF) against one index per collection, and FTS5 with the
  collection filter inside the query.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = ROOT.parent / "shared" / "data" / "realtimeqa-2025"
SYNTHETIC_NOTE = (
    "synthetic: passage texts are random draws from the real articles' word frequencies and"
    " the vectors are random unit vectors; questions and their embeddings are real"
)


def peak_rss_mb() -> float:
    """This process's peak resident memory. Linux's VmHWM is that of this program alone;
    ru_maxrss is carried over exec from the parent (a part started by a big parent would
    report the parent's peak), so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kilobytes
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def percentiles(ms: list[float]) -> dict[str, float]:
    from bot.evaluation.metrics import percentile

    return {**{f"p{p}_ms": round(percentile(ms, p), 1) for p in (50, 95, 99)}, "n": len(ms)}


def questions(path: Path | None) -> list[tuple[str, str | None]]:
    """(question, the day it was asked): answered as of that day, as `newsbot eval` does."""
    from bot.evaluation.datasets import load_realtimeqa_questions

    if path and path.exists():
        return [(q.question, q.asked_on) for q in load_realtimeqa_questions(path)]
    return [(f"What did the council decide about the {w} budget this week?", None) for w in
            ("school", "road", "park", "library", "water", "police", "hospital", "bridge")] * 25


def engine_for(data_dir: Path, embedder, index_type: str = "flat", ner: str | None = None,  # type: ignore[no-untyped-def]
               pg_url: str | None = None, **index):
    """The engine as the product makes it: on the SQLite + FAISS store in `data_dir`, or
    (`pg_url`) on PostgreSQL, `data_dir` then holding only the bot's own files."""
    from bot.config import config_from_dict
    from bot.engine import NewsEngine

    raw: dict = {"index": {"type": index_type, **index}}
    if pg_url:
        raw["store"] = {"backend": "postgres", "url": pg_url}
    if ner is not None:
        raw["ner"] = {"model": ner}
    config = config_from_dict(raw, data_dir=str(data_dir))
    return NewsEngine(config, embedder=embedder)


# -- index ---------------------------------------------------------------------------------
def phase_index(args: argparse.Namespace) -> dict:
    from sentence_transformers import SentenceTransformer

    from bot.evaluation.datasets import load_articles
    from index.chunking import chunk_text, embedding_text
    from index.embedding import SentenceTransformerEmbedder, packaged_model_dir
    from index.models import ReadResult
    from index.settings import ChunkSettings, ModelSettings

    chosen, texts = [], []
    for article in load_articles(args.articles).articles:
        passages = chunk_text(article.text, ChunkSettings())
        chosen.append(article)
        texts += [embedding_text(article.title, p) for p in passages]
        if len(texts) >= args.passages:
            break
    batch = ModelSettings().batch_size
    bare_model = SentenceTransformer(packaged_model_dir(), device="cpu")
    embedder = SentenceTransformerEmbedder(ModelSettings())
    warm = texts[:batch]
    bare_model.encode(warm, batch_size=batch, normalize_embeddings=True)
    embedder.embed(warm, batch_size=batch, progress=lambda d, t: None)
    from index.entities import make_recogniser
    from index.settings import NerSettings

    recogniser = make_recogniser(NerSettings())
    recogniser.find(texts[:batch])  # type: ignore[union-attr]  # load and warm the pipeline
    bare: list[float] = []
    end_to_end: dict[str, list[float]] = {"with_entities": [], "without_entities": []}
    for _ in range(args.rounds):
        started = time.perf_counter()
        bare_model.encode(texts, batch_size=batch, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)
        bare.append(len(texts) / (time.perf_counter() - started))
        # End to end as the product indexes: with the default named-entity model, and with
        # [ner] model = "none".
        for kind, ner in (("with_entities", None), ("without_entities", "none")):
            with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
                engine = engine_for(Path(tmp), embedder, ner=ner)
                started = time.perf_counter()
                engine.add_articles(ReadResult(articles=chosen), progress=lambda *a: None)
                seconds = time.perf_counter() - started
                stored = engine.store.db.counts()[1]
                engine.close()
            end_to_end[kind].append(stored / seconds)
    out: dict = {"articles": len(chosen), "passages": len(texts), "batch_size": batch,
                 "bare_encode_pps": [round(x, 1) for x in bare]}
    for kind, pps in end_to_end.items():
        out[kind] = {
            "end_to_end_pps": [round(x, 1) for x in pps],
            "ratio_best": round(max(pps) / max(bare), 3),
            "ratio_median": round(statistics.median(pps) / statistics.median(bare), 3),
        }
    out["peak_rss_mb"] = round(peak_rss_mb())
    return out


# -- query on a real store -----------------------------------------------------------------
def timed_answers(  # type: ignore[no-untyped-def]
    engine, qs: list[tuple[str, str | None]], warmup: int = 5
) -> list[float]:
    for q, day in qs[:warmup]:
        engine.ask(q, as_of=day)
    out = []
    for q, day in qs:
        started = time.perf_counter()
        engine.ask(q, as_of=day)
        out.append((time.perf_counter() - started) * 1000)
    return out


def phase_query(args: argparse.Namespace) -> dict:
    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings

    embedder = SentenceTransformerEmbedder(ModelSettings())
    engine = engine_for(args.store, embedder)
    qs = questions(args.questions)
    ms = timed_answers(engine, qs)
    search_ms = []
    for q, _ in qs:  # the retrieval part alone: question embedding, FAISS, FTS5, fusion
        started = time.perf_counter()
        engine.searcher.search(q, limit=engine.answerer.settings.passages_read)
        search_ms.append((time.perf_counter() - started) * 1000)
    return {
        "passages": engine.store.db.counts()[1], "index": engine.store.vector_index().kind,
        "answer": percentiles(ms), "search_only": percentiles(search_ms),
        "peak_rss_mb": round(peak_rss_mb()),
    }


# -- a million synthetic passages ----------------------------------------------------------
def build_synthetic(args: argparse.Namespace, tmp: Path) -> dict:
    """A synthetic SQLite + FAISS IVF store of `--million` passages in `tmp` (text drawn at
    random from the real articles' word frequencies, random unit vectors); seconds taken."""
    import numpy as np

    from bot.evaluation.datasets import load_articles
    from index.collections import SHARED
    from index.models import Article, now_iso
    from index.settings import IndexSettings
    from index.sqlite.database import Database
    from index.sqlite.store import DB_NAME
    from index.sqlite.vectors import VectorIndex, vector_file
    from index.text import words

    rng = np.random.default_rng(0)
    counts: Counter[str] = Counter()
    for article in load_articles(args.articles).articles[:400]:
        counts.update(words(article.text))
    vocab = list(counts)
    p = np.array([counts[w] for w in vocab], dtype=np.float64)
    p /= p.sum()
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


# -- collections: filtering inside the search ----------------------------------------------
def phase_collections(args: argparse.Namespace) -> dict:
    """`--million` synthetic passages over `--collections` collections (articles of 10
    passages dealt round-robin), one question searching one server's collection plus the
    shared one. Compares, for the dense part, one index with a FAISS id selector (flat and
    IVF) against one flat index per collection; and times the SQL that selects the ids and
    the FTS5 search with the collection filter inside it."""
    import faiss
    import numpy as np

    from bot.evaluation.datasets import load_articles
    from index.embedding import SentenceTransformerEmbedder
    from index.models import now_iso
    from index.settings import IndexSettings, ModelSettings
    from index.sqlite.database import Database
    from index.sqlite.vectors import VectorIndex
    from index.text import content_words, words

    rng = np.random.default_rng(0)
    n, n_coll, per_article, k = args.million, args.collections, 10, 50
    counts: Counter[str] = Counter()
    for article in load_articles(args.articles).articles[:400]:
        counts.update(words(article.text))
    vocab = list(counts)
    p = np.array([counts[w] for w in vocab], dtype=np.float64)
    p /= p.sum()
    names = ["shared", *(f"guild:{i}" for i in range(1, n_coll))]
    tmp = Path(tempfile.mkdtemp(prefix="newsbot-bench-coll-"))
    try:
        started = time.perf_counter()
        db = Database(tmp / "news.sqlite3")
        stamp = now_iso()
        # Bulk rows, as the store writes them (passage ids 1..n, FTS5 under the same rowid),
        # without the per-article calls that would take most of an hour here.
        with db.transaction() as tx:
            for start in range(0, n, 100_000):
                block = rng.choice(len(vocab), size=(min(100_000, n - start),
                                                     args.million_words), p=p)
                texts = [" ".join(vocab[j] for j in row) + "." for row in block]
                arts = range(start, start + len(texts), per_article)
                tx.executemany(
                    "INSERT INTO articles (id, title, text, content_hash, added_at, updated_at)"
                    " VALUES (?, ?, '', ?, ?, ?)",
                    [(f"synthetic-{a}", f"Synthetic article {a}", f"h{a}", stamp, stamp)
                     for a in arts],
                )
                tx.executemany(
                    "INSERT INTO article_collections (collection, article_id, added_at)"
                    " VALUES (?, ?, ?)",
                    [(names[(a // per_article) % n_coll], f"synthetic-{a}", stamp)
                     for a in arts],
                )
                rows = [(start + i + 1, f"synthetic-{(start + i) // per_article * per_article}",
                         i % per_article, t) for i, t in enumerate(texts)]
                tx.executemany(
                    "INSERT INTO passages (id, article_id, position, text) VALUES (?, ?, ?, ?)",
                    rows,
                )
                tx.executemany(
                    "INSERT INTO passages_fts (rowid, title, text) VALUES (?, ?, ?)",
                    [(r[0], f"Synthetic article {r[1][10:]}", r[3]) for r in rows],
                )
        ids = np.arange(1, n + 1, dtype=np.int64)
        owner = ((np.arange(n) // per_article) % n_coll).astype(np.int32)
        rows_s = time.perf_counter() - started
        _say(f"rows: {rows_s:.0f} s")
        vectors = rng.standard_normal((n, 384), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

        built: dict[str, float] = {}
        started = time.perf_counter()
        flat = VectorIndex.build(384, IndexSettings(type="flat"), ids, vectors)
        built["one_flat_s"] = time.perf_counter() - started
        ivf = None
        if not args.skip_ivf:
            started = time.perf_counter()
            ivf = VectorIndex.build(
                384, IndexSettings(type="ivf", ivf_nlist=args.nlist, ivf_nprobe=args.nprobe),
                ids, vectors,
            )
            built["one_ivf_s"] = time.perf_counter() - started
        started = time.perf_counter()
        per_coll: list[VectorIndex] = []
        for c in range(n_coll):
            mask = owner == c
            per_coll.append(
                VectorIndex.build(384, IndexSettings(type="flat"), ids[mask], vectors[mask])
            )
        built["per_collection_s"] = time.perf_counter() - started
        _say(f"indexes: {built}")

        embedder = SentenceTransformerEmbedder(ModelSettings())
        qs = [q for q, _ in questions(args.questions)][:200]
        qvecs = np.vstack([embedder.embed([q]) for q in qs])
        times: dict[str, list[float]] = {
            "sql_ids": [], "flat_selector": [], "ivf_selector": [], "per_collection": [],
            "scope_copy_build": [], "scope_copy_search": [],
            "fts_filtered": [], "fts_unfiltered": [],
        }
        recall: dict[str, list[float]] = {
            "ivf_selector": [], "flat_selector": [], "per_collection": [], "scope_copy": [],
        }
        for i, (q, qv) in enumerate(zip(qs, qvecs, strict=True)):
            own = 1 + (i * 7919) % (n_coll - 1)
            wanted = [names[own], "shared"]
            where = db.passage_filter(wanted)
            t = time.perf_counter()
            allowed = db.passage_ids(where)
            times["sql_ids"].append(time.perf_counter() - t)
            mask = np.isin(owner, [own, 0])
            exact_scores = vectors[mask] @ qv
            exact = set(ids[mask][np.argsort(-exact_scores)[:k]].tolist())
            for name, index in (("flat_selector", flat), ("ivf_selector", ivf)):
                if index is None:
                    continue
                t = time.perf_counter()
                got = index.search(qv, k, allowed)
                times[name].append(time.perf_counter() - t)
                recall[name].append(len(exact & {pid for pid, _ in got}) / k)
            t = time.perf_counter()
            merged = sorted(
                per_coll[own].search(qv, k) + per_coll[0].search(qv, k), key=lambda h: -h[1]
            )[:k]
            times["per_collection"].append(time.perf_counter() - t)
            recall["per_collection"].append(len(exact & {pid for pid, _ in merged}) / k)
            # what the searcher does (index/search.py, SUBSET_MAX): a flat copy of the
            # scope's vectors, made on the scope's first question after a write
            t = time.perf_counter()
            copy = flat.subset(allowed)
            times["scope_copy_build"].append(time.perf_counter() - t)
            t = time.perf_counter()
            got = copy.search(qv, k)
            times["scope_copy_search"].append(time.perf_counter() - t)
            recall["scope_copy"].append(len(exact & {pid for pid, _ in got}) / k)
            terms = content_words(q)
            t = time.perf_counter()
            db.lexical_search(terms, k, where)
            times["fts_filtered"].append(time.perf_counter() - t)
            t = time.perf_counter()
            db.lexical_search(terms, k)
            times["fts_unfiltered"].append(time.perf_counter() - t)
        del vectors
        sizes = {
            "one_flat_mb": _index_mb(flat.index, faiss),
            "per_collection_mb": sum(_index_mb(x.index, faiss) for x in per_coll),
        }
        return {
            "passages": n, "collections": n_coll, "k": k, "nlist": args.nlist,
            "nprobe": args.nprobe, "build_rows_s": round(rows_s, 1),
            "build": {key: round(v, 1) for key, v in built.items()},
            **{key: percentiles([x * 1000 for x in v]) for key, v in times.items() if v},
            "recall_at_50": {
                key: round(float(np.mean(v)), 3) for key, v in recall.items() if v
            },
            "index_mb": {key: round(v) for key, v in sizes.items()},
            "note": SYNTHETIC_NOTE, "peak_rss_mb": round(peak_rss_mb()),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- PostgreSQL + pgvector beside SQLite + FAISS --------------------------------------------
def _child(args: argparse.Namespace, phase: str, *extra: str) -> dict:
    """Run an internal phase in a process of its own (its own peak memory); its result."""
    command = [sys.executable, __file__, "--phase", phase, "--questions", str(args.questions),
               "--nlist", str(args.nlist), "--nprobe", str(args.nprobe), *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{phase} {' '.join(extra)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ask_engine(args: argparse.Namespace, embedder, data_dir: Path):  # type: ignore[no-untyped-def]
    if args.ask_url:
        return engine_for(data_dir, embedder, pg_url=args.ask_url)
    return engine_for(args.store, embedder, args.ask_index, ivf_nlist=args.nlist,
                      ivf_nprobe=args.nprobe)


def phase_ask(args: argparse.Namespace) -> dict:
    """(internal) The questions asked one at a time of one store: the SQLite + FAISS one in
    `--store` (index `--ask-index`) or the PostgreSQL one at `--ask-url`."""
    import numpy as np

    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings

    embedder = SentenceTransformerEmbedder(ModelSettings())
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-bot-") as tmp:
        engine = _ask_engine(args, embedder, Path(tmp))
        qs = questions(args.questions)
        vector_index = engine.store.vector_index()
        qvecs = np.vstack([embedder.embed([q]) for q, _ in qs])
        vector_ms = []
        for qv in qvecs:  # the dense search alone (for PostgreSQL: one round trip)
            t = time.perf_counter()
            vector_index.search(qv, engine.searcher.settings.candidates)
            vector_ms.append((time.perf_counter() - t) * 1000)
        ms = timed_answers(engine, qs)
        lexical_ms = []
        for q, _ in qs:  # the lexical half alone (terms, BM25 or ts_rank_cd, its rows)
            t = time.perf_counter()
            engine.searcher._lexical(q)
            lexical_ms.append((time.perf_counter() - t) * 1000)
        out = {
            "passages": engine.store.db.counts()[1], "index": vector_index.kind,
            "vector_search_only": percentiles(vector_ms), "lexical_only": percentiles(lexical_ms),
            "answer": percentiles(ms),
            "bot_peak_rss_mb": round(peak_rss_mb()),
        }
        engine.close()
    return out


def phase_pg1m(args: argparse.Namespace) -> dict:
    """`--million` synthetic passages (as the million part makes them) in SQLite + FAISS
    IVF, copied into PostgreSQL + pgvector by the bulk path (benchmarks/pgbulk.py), the same
    questions asked of each in a process of its own, the server's memory sampled."""
    import pgbulk

    from index.settings import IndexSettings

    tmp = Path(tempfile.mkdtemp(prefix="newsbot-bench-pg1m-"))
    try:
        built = build_synthetic(args, tmp)
        _say(f"synthetic SQLite + FAISS store: {built}")
        with pgbulk.server(args.pg_url, args.pg_shared_buffers) as admin, \
                pgbulk.fresh_database(admin) as url:
            loaded = pgbulk.copy_store(
                tmp, url, hnsw_m=IndexSettings().hnsw_m,
                maintenance_work_mem=args.pg_maintenance_mem, workers=args.pg_build_workers,
                build_timeout_s=args.pg_build_timeout_s, say=_say,
            )
            _say(f"postgres load: {loaded}")
            main = pgbulk.postmaster(url)
            idle = pgbulk.memory_mb(main) if main else None
            sqlite = _child(args, "ask", "--store", str(tmp), "--ask-index", "ivf")
            _say(f"sqlite + faiss: {sqlite}")
            postgres: dict = {"not_asked": "the HNSW build was cut (--pg-build-timeout-s)"}
            with pgbulk.MemorySampler(main) as sampler:
                if loaded["hnsw"]["built"]:
                    postgres = _child(args, "ask", "--ask-url", url)
            _say(f"postgres: {postgres}")
            settings = pgbulk.settings_of(url)
        return {
            "passages": loaded["passages"],
            "sqlite_faiss": {**built, "nlist": args.nlist, "nprobe": args.nprobe, **sqlite},
            "postgres": {
                "load": loaded, **postgres, "settings": settings,
                "server_memory_after_load": idle, "server_memory_peak_asking": sampler.peak,
            },
            "note": SYNTHETIC_NOTE,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def phase_askers(args: argparse.Namespace) -> dict:
    """(internal) `--threads` askers in this process on one store; starts asking when a
    line arrives on stdin (so that every process starts together), each question's
    latency and the wall-clock span."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings

    embedder = SentenceTransformerEmbedder(ModelSettings())
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-bot-") as tmp:
        engine = _ask_engine(args, embedder, Path(tmp))
        qs = questions(args.questions)
        qs = (qs[args.ask_offset:] + qs[: args.ask_offset]) * args.ask_rounds
        for q, day in qs[:5]:
            engine.ask(q, as_of=day)
        todo = iter(qs)
        lock = threading.Lock()
        latencies: list[float] = []

        def asker() -> None:
            while True:
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                t = time.perf_counter()
                engine.ask(item[0], as_of=item[1])
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    latencies.append(ms)

        print("ready", flush=True)
        sys.stdin.readline()
        began = time.time()
        with ThreadPoolExecutor(args.threads) as pool:
            for f in [pool.submit(asker) for _ in range(args.threads)]:
                f.result()
        ended = time.time()
        passages = engine.store.db.counts()[1]
        engine.close()
    return {"latencies_ms": latencies, "began": began, "ended": ended, "passages": passages,
            "bot_peak_rss_mb": round(peak_rss_mb())}


def _concurrently(args: argparse.Namespace, *extra: str) -> dict:
    """`--processes` asker processes started together on one store; throughput and latency
    over all their questions."""
    command = [sys.executable, __file__, "--phase", "askers", "--questions", str(args.questions),
               "--threads", str(args.threads), "--ask-rounds", str(args.ask_rounds), *extra]
    n_q = len(questions(args.questions))
    procs = [
        subprocess.Popen([*command, "--ask-offset", str(i * n_q // args.processes)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        for i in range(args.processes)
    ]
    for proc in procs:  # every process loaded and warmed up
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "ready":
            raise SystemExit(f"an asker process failed to start ({line.strip()!r})")
    for proc in procs:
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit("an asker process failed")
        results.append(json.loads(out.strip().splitlines()[-1]))
    latencies = [ms for r in results for ms in r["latencies_ms"]]
    span = max(r["ended"] for r in results) - min(r["began"] for r in results)
    return {
        "passages": results[0]["passages"], "askers": args.processes * args.threads,
        "processes": args.processes, "questions": len(latencies),
        "seconds": round(span, 1), "questions_per_s": round(len(latencies) / span, 2),
        "answer": percentiles(latencies),
        "bot_peak_rss_mb": [r["bot_peak_rss_mb"] for r in results],
    }


def phase_concurrent(args: argparse.Namespace) -> dict:
    """`--processes` x `--threads` askers on the real store in `--store` (SQLite + FAISS),
    then on the same store copied into PostgreSQL (the bulk path), in one run."""
    import pgbulk

    from index.settings import IndexSettings

    if not args.store:
        raise SystemExit("concurrent: give --store DIR (a copy of a built store)")
    sqlite = _concurrently(args, "--store", str(args.store), "--ask-index", "flat")
    _say(f"sqlite + faiss: {sqlite}")
    with pgbulk.server(args.pg_url, args.pg_shared_buffers) as admin, \
            pgbulk.fresh_database(admin) as url:
        loaded = pgbulk.copy_store(
            args.store, url, hnsw_m=IndexSettings().hnsw_m,
            maintenance_work_mem=args.pg_maintenance_mem, workers=args.pg_build_workers,
            say=_say,
        )
        main = pgbulk.postmaster(url)
        with pgbulk.MemorySampler(main) as sampler:
            postgres = _concurrently(args, "--ask-url", url)
        _say(f"postgres: {postgres}")
        settings = pgbulk.settings_of(url)
    return {
        "sqlite_faiss": sqlite,
        "postgres": {**postgres, "load": loaded, "settings": settings,
                     "server_memory_peak_asking": sampler.peak},
    }


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _index_mb(index, faiss) -> float:  # type: ignore[no-untyped-def]
    return len(faiss.serialize_index(index)) / 1e6


def phase_pgparity(args: argparse.Namespace) -> dict:
    """The RealTime QA questions answered on the real store in `--store` (SQLite + FAISS)
    and on the same store copied into PostgreSQL (the bulk path), one process: each
    backend's scores, how many answers are the same text, and how much of each question's
    lexical top list the two backends share."""
    import pgbulk

    from bot.evaluation.datasets import load_realtimeqa_questions
    from bot.evaluation.metrics import score_answer, summarise
    from index.embedding import SentenceTransformerEmbedder
    from index.settings import IndexSettings, ModelSettings

    if not args.store:
        raise SystemExit("pgparity: give --store DIR (a copy of a built store)")
    qs = load_realtimeqa_questions(args.questions)
    embedder = SentenceTransformerEmbedder(ModelSettings())

    def answers(engine) -> dict:  # type: ignore[no-untyped-def]
        out: dict = {"answers": [], "lexical": [], "ms": [], "scores": []}
        for q in qs:
            started = time.perf_counter()
            answer = engine.ask(q.question, as_of=q.asked_on).to_json()
            out["ms"].append((time.perf_counter() - started) * 1000)
            out["answers"].append(answer["answer"])
            out["lexical"].append([pid for pid, _ in engine.searcher._lexical(q.question).hits])
            if q.scored:
                out["scores"].append(score_answer(q.question_id, answer, q.golds, q.wrong, 0))
        return out

    def summary(run: dict) -> dict:
        scored = dataclasses.asdict(summarise(run["scores"]))
        kept = {k: round(v, 3) if isinstance(v, float) else v for k, v in scored.items()
                if not k.startswith("latency")}
        return {**kept, "answer": percentiles(run["ms"])}

    lite = engine_for(args.store, embedder)
    sqlite = answers(lite)
    lite.close()
    with pgbulk.server(args.pg_url, args.pg_shared_buffers) as admin, \
            pgbulk.fresh_database(admin) as url, \
            tempfile.TemporaryDirectory(prefix="newsbot-bench-bot-") as tmp:
        pgbulk.copy_store(args.store, url, hnsw_m=IndexSettings().hnsw_m,
                          maintenance_work_mem=args.pg_maintenance_mem,
                          workers=args.pg_build_workers, say=_say)
        engine = engine_for(Path(tmp), embedder, pg_url=url)
        postgres = answers(engine)
        engine.close()
    pairs = list(zip(sqlite["lexical"], postgres["lexical"], strict=True))
    return {
        "questions": len(qs), "sqlite_faiss": summary(sqlite), "postgres": summary(postgres),
        "same_answer_text": round(sum(
            a == b for a, b in zip(sqlite["answers"], postgres["answers"], strict=True)
        ) / len(qs), 3),
        "lexical_top_shared": round(statistics.mean(
            len(set(a) & set(b)) / max(1, len(a)) for a, b in pairs
        ), 3),
    }


# -- cold start ----------------------------------------------------------------------------
def phase_cold(args: argparse.Namespace) -> dict:
    from bot.evaluation.datasets import load_articles
    from index.embedding import SentenceTransformerEmbedder
    from index.models import ReadResult
    from index.settings import ModelSettings

    tmp = Path(tempfile.mkdtemp(prefix="newsbot-bench-cold-"))
    try:
        engine = engine_for(tmp, SentenceTransformerEmbedder(ModelSettings()))
        engine.add_articles(ReadResult(articles=load_articles(args.articles).articles[:20]))
        engine.close()
        # This checkout's code, as the `newsbot` script would run it (which an editable
        # install may point at another checkout).
        command = [sys.executable, "-c", "from bot.cli import main; main()", "--data-dir",
                   str(tmp), "ask", "--json", "What did the president announce this week?"]
        runs = []
        for _ in range(args.cold_runs):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                                  cwd=ROOT)
            runs.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"newsbot ask failed: {done.stderr[-500:]}")
        return {"seconds": [round(r, 2) for r in runs],
                "median_s": round(statistics.median(runs), 2)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


PHASES = {
    "index": phase_index, "query": phase_query, "million": phase_million, "cold": phase_cold,
    "collections": phase_collections, "pg1m": phase_pg1m, "concurrent": phase_concurrent,
    "pgparity": phase_pgparity,
    "ask": phase_ask, "askers": phase_askers,  # internal: one store, one process
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="index,query,million,cold",
                        help="comma-separated parts to run (default: all)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)  # internal: run one part here
    parser.add_argument("--articles", type=Path, default=DATA / "articles.jsonl")
    parser.add_argument("--questions", type=Path, default=DATA / "questions.jsonl")
    parser.add_argument("--store", type=Path, help="a built store for the query part")
    parser.add_argument("--passages", type=int, default=1500, help="passages to index")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the index part")
    parser.add_argument("--million", type=int, default=1_000_000, help="synthetic passages")
    parser.add_argument("--million-words", type=int, default=60, help="words a synthetic passage")
    parser.add_argument("--million-dir", type=Path, help="build the synthetic store here, kept")
    parser.add_argument("--collections", type=int, default=1000,
                        help="collections of the collections part")
    parser.add_argument("--skip-ivf", action="store_true",
                        help="collections part: leave out the IVF index (its training is slow)")
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--cold-runs", type=int, default=4)
    parser.add_argument("--pg-url", help="PostgreSQL (an administrator's URL) for the pg1m and"
                        " concurrent parts; default: an embedded PostgreSQL started for the run")
    parser.add_argument("--pg-shared-buffers", default="2GB",
                        help="shared_buffers of the embedded PostgreSQL")
    parser.add_argument("--pg-maintenance-mem", default="4GB",
                        help="maintenance_work_mem for building the indexes")
    parser.add_argument("--pg-build-workers", type=int, default=1,
                        help="max_parallel_maintenance_workers for building the indexes")
    parser.add_argument("--pg-build-timeout-s", type=float, default=0,
                        help="cancel the HNSW build after this long (0: never)")
    parser.add_argument("--processes", type=int, default=2, help="concurrent: asker processes")
    parser.add_argument("--threads", type=int, default=4, help="concurrent: askers a process")
    parser.add_argument("--ask-rounds", type=int, default=1,
                        help="concurrent: times each process asks every question")
    parser.add_argument("--ask-url", help=argparse.SUPPRESS)
    parser.add_argument("--ask-index", default="flat", help=argparse.SUPPRESS)
    parser.add_argument("--ask-offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return
    results = {}
    for name in [p.strip() for p in args.phases.split(",") if p.strip()]:
        if name == "query" and not args.store:
            print("query: skipped (give --store DIR, a built store)", flush=True)
            continue
        command = [sys.executable, __file__, "--phase", name, *sys.argv[1:]]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}", flush=True)
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        results[name]["wall_s"] = round(time.perf_counter() - started, 1)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
