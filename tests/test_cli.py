"""The `newsbot` command line, end to end with click's runner: the real model, and the fast
test embedder where a test is about the command's options rather than the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.embedding import HashingEmbedder
from index.errors import InputError
from tests.conftest import ROOT, SEED


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


@pytest.mark.model
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


@pytest.mark.model
def test_build_refuses_to_overwrite_and_replace_keeps_a_backup(tmp_path, real_embedder):
    data = tmp_path / "data"
    assert invoke(data, "index", "build", str(SEED)).exit_code == 0
    result = run_main(data, "index", "build", str(SEED))
    assert result.returncode == 1
    assert "already exists" in result.stderr and "Traceback" not in result.stderr
    result = invoke(data, "index", "build", "--replace", str(SEED))
    assert result.exit_code == 0
    assert list(tmp_path.glob("data.previous-*"))


@pytest.mark.model
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


@pytest.mark.model
def test_ask_on_a_fresh_machine_builds_from_the_seeds(tmp_path):
    """The README's first command: no store yet, `newsbot ask` answers from seeds/."""
    result = run_main(tmp_path / "fresh", "ask", "What does Putin demand to end the offensive?")
    assert result.returncode == 0, result.stderr
    assert "[1]" in result.stdout and "Sources" in result.stdout
    assert "Crimea" in result.stdout


@pytest.mark.model
def test_run_without_a_token_says_how_to_get_one(tmp_path):
    result = run_main(tmp_path / "data", "run", env={"DISCORD_TOKEN": ""})
    assert result.returncode == 1
    assert "DISCORD_TOKEN" in result.stderr and "Traceback" not in result.stderr


# -- --as-of, on the fast test embedder -------------------------------------------------------
BUDGET_QUESTION = "How much was the library budget?"
JANUARY_URL = "https://example.com/budget-january"
MARCH_URL = "https://example.com/budget-march"


@pytest.fixture(params=[("4.2 million", "6.8 million"), ("6.8 million", "4.2 million")],
                ids=["january-4.2", "january-6.8"])
def fast_cli(request, tmp_path, monkeypatch):
    """`newsbot` with the fast test embedder on a store of two reports of the same vote that
    differ only in their date and the figure they give (each way round: the test embedder
    rates one wording a little higher). Returns (data dir, config path, January's figure,
    March's figure)."""
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "fast.toml"
    # The test embedder's similarities and scores are not the real model's: never decline here.
    config.write_text("[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n")
    data = tmp_path / "data"
    january, march = request.param
    sources = []
    for name, published, url, amount in (("january.md", "2025-01-06", JANUARY_URL, january),
                                         ("march.md", "2025-03-17", MARCH_URL, march)):
        (tmp_path / name).write_text(
            f"---\ntitle: Library budget\nurl: {url}\npublished: {published}\n---\n"
            f"The city council approved a library budget of {amount} dollars.\n"
        )
        sources.append(str(tmp_path / name))
    result = invoke(data, "--config", str(config), "index", "add", *sources)
    assert result.exit_code == 0 and "2 added" in result.output, result.output
    return data, config, january, march


def ask_lead(data: Path, config: Path, as_of: str) -> tuple[str, str]:
    """(the lead sentence, the URL of its source) of `ask --json --as-of`."""
    result = invoke(data, "--config", str(config), "ask", "--json", "--as-of", as_of,
                    BUDGET_QUESTION)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["answered"]
    assert {r["url"] for r in answer["retrieved"]} == {JANUARY_URL, MARCH_URL}
    return answer["answer"].split("[1]")[0], answer["citations"][0]["url"]


def test_as_of_prefers_the_reports_before_that_day(fast_cli):
    data, config, january, march = fast_cli
    # Asked on January 8 the March report is dated after that day: the January one leads.
    lead, url = ask_lead(data, config, "2025-01-08")
    assert january in lead and march not in lead and url == JANUARY_URL
    # Asked on March 18 both are from the days before: the latest leads.
    lead, url = ask_lead(data, config, "2025-03-18")
    assert march in lead and january not in lead and url == MARCH_URL


def test_a_bad_as_of_date_is_one_clear_line(tmp_path):
    help_text = CliRunner().invoke(cli, ["ask", "--help"]).output
    assert "--as-of" in help_text and "reader on that day" in help_text

    data = tmp_path / "data"
    with pytest.raises(InputError, match="--as-of: 'next tuesday' is not a date"):
        invoke(data, "ask", "--as-of", "next tuesday", BUDGET_QUESTION)
    result = run_main(data, "ask", "--as-of", "2025-02-30", BUDGET_QUESTION)
    assert result.returncode == 1
    assert "--as-of" in result.stderr and "2025-02-30" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data.exists()  # refused before any model was loaded or store built


def test_article_text_and_errors_print_literally_not_as_markup(tmp_path, monkeypatch):
    """Titles, quotes, answers and error messages come from articles and users: square
    brackets in them are text, never console markup (which dropped "[Reuters]" and crashed
    on "[/dim]")."""
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "fast.toml"
    config.write_text("[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n")
    data = tmp_path / "data"
    article = tmp_path / "bracket.md"
    article.write_text(
        "---\ntitle: Budget [/dim] vote [Reuters]\n---\n"
        "The council [bold]approved[/bold] a library budget of 4.2 million dollars [/dim].\n"
    )
    added = invoke(data, "--config", str(config), "index", "add", str(article))
    assert added.exit_code == 0, added.output
    assert "Budget [/dim] vote [Reuters]" in added.output
    result = invoke(data, "--config", str(config), "ask", BUDGET_QUESTION)
    assert result.exit_code == 0, result.output
    assert "[bold]approved[/bold] a library budget of 4.2 million dollars [/dim]." in result.output
    assert "[1] Budget [/dim] vote [Reuters]" in result.output

    missing = run_main(tmp_path / "other", "index", "add", str(tmp_path / "[red]nope[/x].txt"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert "[red]nope[/x].txt" in missing.stderr
