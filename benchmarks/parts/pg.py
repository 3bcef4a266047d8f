"""PostgreSQL + pgvector beside SQLite + FAISS: the pg1m part (a million synthetic passages
copied by the bulk path, benchmarks/pgbulk.py), the pgparity part (the real store's answers
on both) and the internal ask part (one store, one process)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parts.common import (
    BENCH,
    ROOT,
    SYNTHETIC_NOTE,
    ask_engine,
    engine_for,
    peak_rss_mb,
    percentiles,
    questions,
    say,
    timed_answers,
)
from parts.million import build_synthetic


def child(args: argparse.Namespace, phase: str, *extra: str) -> dict:
    """Run an internal phase in a process of its own (its own peak memory); its result."""
    command = [sys.executable, str(BENCH), "--phase", phase, "--questions", str(args.questions),
               "--nlist", str(args.nlist), "--nprobe", str(args.nprobe), *extra]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{phase} {' '.join(extra)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def phase_ask(args: argparse.Namespace) -> dict:
    """(internal) The questions asked one at a time of one store: the SQLite + FAISS one in
    `--store` (index `--ask-index`) or the PostgreSQL one at `--ask-url`."""
    import numpy as np

    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings

    embedder = SentenceTransformerEmbedder(ModelSettings())
    with tempfile.TemporaryDirectory(prefix="newsbot-bench-bot-") as tmp:
        engine = ask_engine(args, embedder, Path(tmp))
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
        say(f"synthetic SQLite + FAISS store: {built}")
        with pgbulk.server(args.pg_url, args.pg_shared_buffers) as admin, \
                pgbulk.fresh_database(admin) as url:
            loaded = pgbulk.copy_store(
                tmp, url, hnsw_m=args.pg_hnsw_m or IndexSettings().hnsw_m,
                maintenance_work_mem=args.pg_maintenance_mem, workers=args.pg_build_workers,
                build_timeout_s=args.pg_build_timeout_s, say=say,
            )
            say(f"postgres load: {loaded}")
            main = pgbulk.postmaster(url)
            idle = pgbulk.memory_mb(main) if main else None
            sqlite = child(args, "ask", "--store", str(tmp), "--ask-index", "ivf")
            say(f"sqlite + faiss: {sqlite}")
            postgres: dict = {"not_asked": "the HNSW build was cut (--pg-build-timeout-s)"}
            with pgbulk.MemorySampler(main) as sampler:
                if loaded["hnsw"]["built"]:
                    postgres = child(args, "ask", "--ask-url", url)
            say(f"postgres: {postgres}")
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
        pgbulk.copy_store(args.store, url, hnsw_m=args.pg_hnsw_m or IndexSettings().hnsw_m,
                          maintenance_work_mem=args.pg_maintenance_mem,
                          workers=args.pg_build_workers, say=say)
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
