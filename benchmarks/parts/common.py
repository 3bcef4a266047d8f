"""What the benchmark's parts share: where things are, the engine as the product makes it,
the questions, timing and peak memory."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

BENCH = ROOT / "benchmarks" / "bench.py"  # each part runs as `bench.py --phase NAME`
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
    # Said aloud: the synthetic questions answer in about half the time of real ones, so a
    # run that silently fell back would look like a speed-up.
    if path is not None:
        say(f"bench: {path} not found; timing 200 synthetic questions")
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


def ask_engine(args: argparse.Namespace, embedder, data_dir: Path):  # type: ignore[no-untyped-def]
    if args.ask_url:
        return engine_for(data_dir, embedder, pg_url=args.ask_url)
    return engine_for(args.store, embedder, args.ask_index, ivf_nlist=args.nlist,
                      ivf_nprobe=args.nprobe)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def word_frequencies(articles: Path):  # type: ignore[no-untyped-def]
    """The words of the first 400 real articles and their shares, for synthetic passages."""
    from collections import Counter

    import numpy as np

    from bot.evaluation.datasets import load_articles
    from index.text import words

    counts: Counter[str] = Counter()
    for article in load_articles(articles).articles[:400]:
        counts.update(words(article.text))
    vocab = list(counts)
    p = np.array([counts[w] for w in vocab], dtype=np.float64)
    return vocab, p / p.sum()
