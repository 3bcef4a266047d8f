"""The cold part: `newsbot ask` as a new process on a small store, wall-clock."""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from parts.common import ROOT, engine_for


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
