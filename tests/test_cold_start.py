"""`newsbot ask` starts fast: a question imports only what answering it needs.

Importing the CLI must not pull in the libraries that only indexing, evaluation or building
the ONNX graph use (onnx and its ml_dtypes: 0.75 s; datasketch, which imports scipy: 0.45 s;
trafilatura; torch, spaCy, transformers, sentence-transformers: seconds). Each check runs in a
fresh interpreter, since this test process has long since imported them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEED, make_config

HEAVY = ("onnx", "datasketch", "scipy", "trafilatura", "torch", "spacy", "transformers",
         "sentence_transformers")

_REPORT = (
    "import json, sys\n"
    f"heavy = {HEAVY!r}\n"
    "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
)


def _fresh(code: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Run `code` then _REPORT in a new interpreter; (its other output, heavy modules seen)."""
    done = subprocess.run([sys.executable, "-c", code + "\n" + _REPORT], capture_output=True,
                          text=True, cwd=ROOT, timeout=180, env=env)
    assert done.returncode == 0, done.stderr
    *out, last = done.stdout.strip().splitlines()
    return "\n".join(out), json.loads(last)


def test_importing_the_cli_imports_no_heavy_module():
    _, heavy = _fresh("import bot.cli")
    assert heavy == []


def _ask(data: Path, cache: Path, question: str) -> tuple[dict, list[str]]:
    code = (
        "import sys; from bot.cli import main\n"
        f"sys.argv = ['newsbot', '--data-dir', {str(data)!r}, 'ask', '--json', {question!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
    )
    env = {**os.environ, "NEWSBOT_CACHE": str(cache)}
    out, heavy = _fresh(code, env)
    return json.loads(out), heavy


@pytest.mark.model
def test_a_question_on_the_seed_store_imports_no_heavy_module(tmp_path, real_embedder):
    """The first question with an empty cache builds the ONNX graph (that one needs onnx) and
    keeps it; every later question loads it with ONNX Runtime alone. None of them groups
    stories, reads HTML or runs torch or spaCy."""
    from bot.engine import NewsEngine

    data, cache = tmp_path / "data", tmp_path / "cache"
    engine = NewsEngine(make_config(data), embedder=real_embedder)
    engine.add_sources([str(SEED)])
    engine.close()
    question = "What does Putin demand to end the offensive?"

    first, heavy_first = _ask(data, cache, question)
    assert first["answered"] and "Crimea" in first["answer"]
    assert set(heavy_first) <= {"onnx"}  # it built the graph, and nothing else heavy
    assert list(cache.rglob("*.onnx")), "the built graph was not kept"

    second, heavy_second = _ask(data, cache, question)
    assert second["answer"] == first["answer"]
    assert heavy_second == []
