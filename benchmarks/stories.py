"""Story groups on a built store: MinHash (what the store uses) against passage embeddings.

    .venv/bin/python benchmarks/stories.py --store /tmp/rtqa-store [--embedding-threshold 0.9]
        [--groups groups.json]

`--store` is a folder `newsbot eval realtimeqa --data-dir` kept (or any store). It prints how
many groups of two or more articles each method finds, how many of them both find, and writes
every group (titles, dates, URLs, the start of each text) to `--groups` for checking by hand.

The embedding method: an article's vector is the mean of its passages' vectors (read back from
FAISS), normalised; two articles are copies when their cosine similarity is at least the
threshold; groups are the connected sets, as for MinHash.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from index import stories
from index.settings import IndexSettings
from index.sqlite.database import Database
from index.sqlite.vectors import VectorIndex, vector_file


def multi(story_of: dict[str, str]) -> list[frozenset[str]]:
    return [frozenset(m) for m in stories.members(story_of).values() if len(m) > 1]


def embedding_groups(db: Database, data_dir: Path, threshold: float) -> dict[str, str]:
    generation = db.generation()
    index = VectorIndex.load(vector_file(data_dir, generation), IndexSettings())
    rows = db.connection().execute("SELECT id, article_id FROM passages").fetchall()
    by_article: dict[str, list[int]] = {}
    for pid, aid in rows:
        by_article.setdefault(aid, []).append(pid)
    ids = sorted(by_article)
    vecs = np.stack([
        np.mean([index.index.reconstruct(int(p)) for p in by_article[a]], axis=0) for a in ids
    ]).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = vecs @ vecs.T
    i, j = np.nonzero(np.triu(sims, 1) >= threshold)
    return stories.components(ids, [(ids[a], ids[b]) for a, b in zip(i, j, strict=True)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--embedding-threshold", type=float, default=0.9)
    ap.add_argument("--groups", type=Path, default=None, help="write the groups here (JSON)")
    args = ap.parse_args()
    db = Database(args.store / "news.sqlite3")
    articles = {a.id: a for a in db.all_articles()}

    started = time.perf_counter()
    signatures = {aid: stories.signature(a.text) for aid, a in articles.items()}
    minhash = stories.group(signatures)
    minhash_s = time.perf_counter() - started
    started = time.perf_counter()
    dense = embedding_groups(db, args.store, args.embedding_threshold)
    dense_s = time.perf_counter() - started

    mh, em = multi(minhash), multi(dense)
    print(f"articles: {len(articles)}")
    print(f"minhash: {len(mh)} groups of 2+ ({sum(map(len, mh))} articles, largest"
          f" {max(map(len, mh), default=0)}), {minhash_s:.1f} s")
    print(f"embeddings >= {args.embedding_threshold}: {len(em)} groups of 2+"
          f" ({sum(map(len, em))} articles, largest {max(map(len, em), default=0)}),"
          f" {dense_s:.1f} s")
    print(f"the same groups in both: {len(set(mh) & set(em))}")

    if args.groups:
        def describe(group: frozenset[str]) -> list[dict]:
            return [
                {"id": a, "title": articles[a].title, "published": articles[a].published,
                 "url": articles[a].url, "start": " ".join(articles[a].text.split())[:300]}
                for a in sorted(group, key=lambda x: (articles[x].published or "", x))
            ]

        out = {
            "minhash": [describe(g) for g in sorted(mh, key=min)],
            "embeddings_only": [describe(g) for g in sorted(set(em) - set(mh), key=min)],
            "minhash_only": [describe(g) for g in sorted(set(mh) - set(em), key=min)],
        }
        args.groups.write_text(json.dumps(out, indent=1, ensure_ascii=False))
        print(f"groups written to {args.groups}")
    db.close()


if __name__ == "__main__":
    main()
