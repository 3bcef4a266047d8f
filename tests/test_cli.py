"""The `newsbot` command line, end to end with click's runner and the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.conftest import ROOT, SEED

pytestmark = pytest.mark.model


def invoke(data: Path, *args: str):
    runner = CliRunner()
    return runner.invoke(cli, ["--data-dir", str(data), *args], catch_exceptions=False)


def run_main(data: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The installed entry point in a fresh process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "--data-dir", str(data), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def test_build_add_ask_stats_remove(tmp_path, real_embedder):
    data = tmp_path / "data"
    result = invoke(data, "index", "build")
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output

    story = tmp_path / "council.md"
    story.write_text(
        "---\ntitle: Council passes budget\nurl: https://example.com/council\n"
        "source: Example Times\npublished: 2025-03-04\n---\n"
        "The city council approved a budget of 4.2 million dollars on Tuesday. "
        "The money pays for three new libraries.\n"
    )
    result = invoke(data, "index", "add", str(story))
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output

    result = invoke(data, "ask", "--json", "How much was the council budget?")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["answered"] and "4.2 million" in answer["answer"]
    assert answer["citations"][0]["url"] == "https://example.com/council"
    assert answer["citations"][0]["source"] == "Example Times"

    result = invoke(data, "ask", "How much was the council budget?")
    assert "Sources" in result.output and "Council passes budget" in result.output

    result = invoke(data, "index", "stats", "--json")
    stats = json.loads(result.output)
    assert stats["articles"] == 2 and stats["index_type"] == "flat"

    result = invoke(data, "index", "remove", "https://example.com/council")
    assert result.exit_code == 0 and "Removed 1" in result.output
    result = invoke(data, "index", "remove", "https://example.com/council")
    assert result.exit_code == 1

    result = invoke(data, "index", "rebuild")
    assert result.exit_code == 0 and "1 articles" in result.output


def test_build_refuses_to_overwrite_and_replace_keeps_a_backup(tmp_path, real_embedder):
    data = tmp_path / "data"
    assert invoke(data, "index", "build", str(SEED)).exit_code == 0
    result = run_main(data, "index", "build", str(SEED))
    assert result.returncode == 1
    assert "already exists" in result.stderr and "Traceback" not in result.stderr
    result = invoke(data, "index", "build", "--replace", str(SEED))
    assert result.exit_code == 0
    assert list(tmp_path.glob("data.previous-*"))


def test_errors_are_one_line_and_non_zero(tmp_path):
    data = tmp_path / "data"
    missing = run_main(data, "index", "add", str(tmp_path / "nope.txt"))
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr
    assert "nope.txt" in missing.stderr

    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('[index]\ntype = "quantum"\n')
    result = run_main(data, "--config", str(bad_config), "index", "stats")
    assert result.returncode == 1
    assert "index.type" in result.stderr and "flat, hnsw, ivf" in result.stderr
    assert "Traceback" not in result.stderr

    result = run_main(data, "--debug", "--config", str(bad_config), "index", "stats")
    assert "Traceback" in result.stderr


def test_ask_on_a_fresh_machine_builds_from_the_seeds(tmp_path):
    """The README's first command: no store yet, `newsbot ask` answers from seeds/."""
    result = run_main(tmp_path / "fresh", "ask", "What does Putin demand to end the offensive?")
    assert result.returncode == 0, result.stderr
    assert "[1]" in result.stdout and "Sources" in result.stdout
    assert "Crimea" in result.stdout


def test_run_without_a_token_says_how_to_get_one(tmp_path):
    result = run_main(tmp_path / "data", "run", env={"DISCORD_TOKEN": ""})
    assert result.returncode == 1
    assert "DISCORD_TOKEN" in result.stderr and "Traceback" not in result.stderr
