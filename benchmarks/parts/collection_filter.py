"""The collections part (not in the default set): a search filtered to one server's collection
plus the shared one, inside FAISS (an id selector) and FTS5, against one index per collection."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from parts.common import (
    SYNTHETIC_NOTE,
    peak_rss_mb,
    percentiles,
    questions,
    say,
    word_frequencies,
)


def phase_collections(args: argparse.Namespace) -> dict:
    """`--million` synthetic passages over `--collections` collections (articles of 10
    passages dealt round-robin), one question searching one server's collection plus the
    shared one. Compares, for the dense part, one index with a FAISS id selector (flat and
    IVF) against one flat index per collection; and times the SQL that selects the ids and
    the FTS5 search with the collection filter inside it."""
    import faiss
    import numpy as np

    from index.embedding import SentenceTransformerEmbedder
    from index.models import now_iso
    from index.settings import IndexSettings, ModelSettings
    from index.sqlite.database import Database
    from index.sqlite.vectors import VectorIndex
    from index.text import content_words

    rng = np.random.default_rng(0)
    n, n_coll, per_article, k = args.million, args.collections, 10, 50
    vocab, p = word_frequencies(args.articles)
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
        say(f"rows: {rows_s:.0f} s")
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
        say(f"indexes: {built}")

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
            "one_flat_mb": index_mb(flat.index, faiss),
            "per_collection_mb": sum(index_mb(x.index, faiss) for x in per_coll),
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


def index_mb(index, faiss) -> float:  # type: ignore[no-untyped-def]
    return len(faiss.serialize_index(index)) / 1e6
