"""A PostgreSQL password is never printed, in any form libpq takes it (issue 18 item 5): the
URL's user info, a `password=` URL parameter, a key/value connection string; and a key/value
string is accepted wherever a URL is, as libpq accepts it. Through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from index.errors import NewsbotError
from index.postgres.conninfo import redact
from tests.conftest import ROOT
from tests.test_migrate import RefusingEmbedder, rows, run_cli, sqlite_store  # noqa: F401

SECRET = "hunter2sekrit"


def as_query_url(url: str, password: str = SECRET) -> str:
    """`url` rewritten as postgresql:///db?host=…&user=…&password=…"""
    given = {**conninfo_to_dict(url), "password": password}
    dbname = given.pop("dbname")
    return f"postgresql:///{dbname}?" + "&".join(f"{k}={quote(v)}" for k, v in given.items())


def as_key_value(url: str, password: str = SECRET) -> str:
    return make_conninfo(url, password=password)


def cli_process(data: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "--data-dir", str(data),
         *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})},
    )


@pytest.mark.parametrize(
    ("to", "shown"),
    [
        ("postgresql:///news?host=127.0.0.1&port=1&user=bot&password=" + SECRET,
         "postgresql:///news?host=127.0.0.1&port=1&user=bot&password=***"),
        (f"host=127.0.0.1 port=1 user=bot password={SECRET} dbname=news", "password=***"),
        (f"host=127.0.0.1 port=1 user=bot password='{SECRET} x' dbname=news", "password=***"),
    ],
    ids=["url-parameter", "key-value", "key-value-quoted"],
)
def test_a_failed_connection_never_prints_the_password(sqlite_store, to, shown):  # noqa: F811
    result = cli_process(sqlite_store, "migrate", "--to", to)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot connect to PostgreSQL at "), lines[0]
    assert shown in lines[0], lines[0]
    assert SECRET not in result.stderr + result.stdout


def test_a_key_value_string_migrates_and_stats_never_print_the_password(
    sqlite_store, pg_url, tmp_path, monkeypatch  # noqa: F811
):
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: RefusingEmbedder())
    monkeypatch.setattr("bot.cli.index.make_embedder", lambda settings: RefusingEmbedder())
    migrated = run_cli(sqlite_store, "migrate", "--to", as_key_value(pg_url))
    assert migrated.exit_code == 0, migrated.output + repr(migrated.exception)
    assert SECRET not in migrated.output and "password=***" in migrated.output
    assert rows(pg_url, "SELECT COUNT(*) FROM articles") == [(10,)]

    config = tmp_path / "config.toml"
    for url in (as_query_url(pg_url), as_key_value(pg_url)):
        config.write_text(f'[store]\nbackend = "postgres"\nurl = "{url}"\n')
        stats = run_cli(sqlite_store, "--config", str(config), "index", "stats")
        assert stats.exit_code == 0, stats.output + repr(stats.exception)
        [database] = [line for line in stats.output.splitlines() if line.startswith("Database:")]
        assert "password=***" in database and SECRET not in stats.output, database
        as_json = run_cli(sqlite_store, "--config", str(config), "index", "stats", "--json")
        assert as_json.exit_code == 0 and SECRET not in as_json.output
    # The key/value string from the environment, as from the config file.
    config.write_text('[store]\nbackend = "postgres"\n')
    stats = run_cli(sqlite_store, "--config", str(config), "index", "stats",
                    env={"NEWSBOT_DATABASE_URL": as_key_value(pg_url)})
    assert stats.exit_code == 0, stats.output + repr(stats.exception)
    assert "password=***" in stats.output and SECRET not in stats.output


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        (f"hostx=db.example.org password={SECRET}", 'invalid connection option "hostx"'),
        (f"host=db.example.org user=bot {SECRET}", "missing"),
        (f"mysql://bot:{SECRET}@db.example.org/news", "missing"),
        (f"postgresql://db.example.org/news?passwd={SECRET}", "invalid URI query parameter"),
        ("", "empty"),
    ],
    ids=["unknown-option", "bare-word", "other-scheme", "unknown-parameter", "empty"],
)
def test_a_string_libpq_cannot_read_is_refused_without_repeating_it(
    sqlite_store, to, reason  # noqa: F811
):
    result = run_cli(sqlite_store, "migrate", "--to", to)
    assert result.exit_code != 0
    assert isinstance(result.exception, NewsbotError), repr(result.exception)
    message = str(result.exception)
    assert "is not a PostgreSQL URL" in message and reason in message, message
    assert SECRET not in message and "\n" not in message


def test_a_bad_database_url_in_the_environment_is_not_repeated(tmp_path):
    result = cli_process(tmp_path / "data", "index", "stats",
                         env={"NEWSBOT_DATABASE_URL": f"user=bot {SECRET}"})
    assert result.returncode != 0
    assert "NEWSBOT_DATABASE_URL" in result.stderr and SECRET not in result.stderr


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("postgresql://bot:pw%40x@h/db", "postgresql://bot:***@h/db"),
        ("postgresql://bot:pw@x@h/db", None),  # libpq reads "pw" as the password
        ("postgresql://h/db?password=pw1&sslpassword=pw2", "postgresql://h/db?password=***&sslpassword=***"),
        ("postgresql://h/db?pass%77ord=pw1", "postgresql://h/db?pass%77ord=***"),
        ("host=h password = 'pw 1' dbname=db", "password=*** dbname=db host=h"),
        ("postgresql://bot@h/db", "postgresql://bot@h/db"),
        ("host=h dbname=db", "host=h dbname=db"),
        ("host=h\x00 password=pw1", "(a connection string libpq cannot read; not shown, it"
                                     " may hold a password)"),  # libpq stops at the NUL
    ],
)
def test_every_form_of_password_is_masked(given, shown):
    masked = redact(given)
    if shown is not None:
        assert masked == shown
    assert "pw" not in masked
