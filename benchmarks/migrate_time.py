"""`newsbot migrate --to postgresql://…` timed on one synthetic store, for each of several
checkouts of the code (the current one, an older commit unpacked elsewhere), in one run.

One synthetic SQLite + FAISS store of `--passages` passages (benchmarks/parts/million.py
`build_synthetic`: random draws from the real articles' word frequencies, random unit
vectors, 384 dimensions), one embedded PostgreSQL 18 + pgvector (benchmarks/pgbulk.py
`server`), then for each `--code` folder `newsbot migrate` as a process of its own, run from
that folder, into a fresh database: its wall time, what it printed, and the passages'
indexes it left (names and definitions, which must be the same for every checkout).

    .venv/bin/python benchmarks/migrate_time.py --passages 50000 \
        --code /tmp/migrate-before --code . > migrate.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import pgbulk  # noqa: E402
from parts import common  # noqa: E402
from parts.million import build_synthetic  # noqa: E402

INDEXES = ("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'passages'"
           " ORDER BY indexname")


def migrate_once(code: Path, store: Path, url: str, extra: list[str], timeout_s: float) -> dict:
    cmd = [sys.executable, "-c", "from bot.cli import main; main()", "--data-dir", str(store),
           "migrate", "--to", url, *extra]
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"code": str(code), "finished": False, "timeout_s": timeout_s}
    wall = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        indexes = conn.execute(INDEXES).fetchall()
        passages = int(conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0])  # type: ignore[index]
    return {
        "code": str(code), "finished": proc.returncode == 0, "wall_s": round(wall, 1),
        "passages": passages, "indexes": [list(i) for i in indexes],
        "stderr_tail": proc.stderr.strip().splitlines()[-2:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=50_000)
    parser.add_argument("--words", type=int, default=60, help="words a synthetic passage")
    parser.add_argument("--code", type=Path, action="append", required=True,
                        help="a checkout to run `newsbot migrate` from (repeatable, in order)")
    parser.add_argument("--migrate-arg", action="append", default=[],
                        help="passed on to every `newsbot migrate` (repeatable)")
    parser.add_argument("--timeout-s", type=float, default=1200)
    parser.add_argument("--pg-url", help="an administrator's URL (default: an embedded server)")
    parser.add_argument("--articles", type=Path, default=common.DATA / "articles.jsonl")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="newsbot-migrate-time-"))
    try:
        synthetic = argparse.Namespace(articles=args.articles, million=args.passages,
                                       million_words=args.words, nlist=256, nprobe=16)
        built = build_synthetic(synthetic, tmp)
        common.say(f"synthetic store of {args.passages} passages: {built}")
        runs = []
        with pgbulk.server(args.pg_url) as admin:
            settings = None
            for code in args.code:
                with pgbulk.fresh_database(admin) as url:
                    settings = settings or pgbulk.settings_of(url)
                    run = migrate_once(code.resolve(), tmp, url, args.migrate_arg, args.timeout_s)
                    common.say(f"{code}: {run}")
                    runs.append(run)
        print(json.dumps({
            "passages": args.passages, "words_per_passage": args.words, "synthetic": built,
            "server": settings, "load_average_after": os.getloadavg(), "runs": runs,
            "note": common.SYNTHETIC_NOTE,
        }, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
