"""The concurrent part: `--processes` x `--threads` askers on one store at once, SQLite + FAISS
then the same store in PostgreSQL; and the internal askers part (one such process)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parts.common import BENCH, ROOT, ask_engine, peak_rss_mb, percentiles, questions, say


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
        engine = ask_engine(args, embedder, Path(tmp))
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


def concurrently(args: argparse.Namespace, *extra: str) -> dict:
    """`--processes` asker processes started together on one store; throughput and latency
    over all their questions."""
    command = [sys.executable, str(BENCH), "--phase", "askers", "--questions", str(args.questions),
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
    sqlite = concurrently(args, "--store", str(args.store), "--ask-index", "flat")
    say(f"sqlite + faiss: {sqlite}")
    with pgbulk.server(args.pg_url, args.pg_shared_buffers) as admin, \
            pgbulk.fresh_database(admin) as url:
        loaded = pgbulk.copy_store(
            args.store, url, hnsw_m=IndexSettings().hnsw_m,
            maintenance_work_mem=args.pg_maintenance_mem, workers=args.pg_build_workers,
            say=say,
        )
        main = pgbulk.postmaster(url)
        with pgbulk.MemorySampler(main) as sampler:
            postgres = concurrently(args, "--ask-url", url)
        say(f"postgres: {postgres}")
        settings = pgbulk.settings_of(url)
    return {
        "sqlite_faiss": sqlite,
        "postgres": {**postgres, "load": loaded, "settings": settings,
                     "server_memory_peak_asking": sampler.peak},
    }
