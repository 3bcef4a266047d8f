"""Ingestion findings of issue 11, each as a hostile user tried it: invalid UTF-8 in arguments
and file names, JSON Lines with bad lines, unreadable folders, malformed and entity-expanding
feeds, library log noise, dates with trailing junk, and a feed's total run time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest

from bot.engine import as_of_day
from index.errors import InputError
from index.readers import read_feed, read_paths
from index.readers.records import MAX_TITLE_CHARS
from index.settings import FetchSettings
from tests.conftest import ROOT
from tests.test_readers_web import Site

# `newsbot` on the fast hashing test embedder, in a fresh process (argv is bytes there).
FAST_MAIN = (
    "import bot.engine, index.embedding;"
    "bot.engine.make_embedder = lambda settings: index.embedding.HashingEmbedder();"
    "from bot.cli import main; main()"
)
STORY = "The council approved a budget of four million dollars on Tuesday evening after a vote."


def run_cli(data: Path, *args: str | bytes, fast: bool = True) -> subprocess.CompletedProcess:
    code = FAST_MAIN if fast else "from bot.cli import main; main()"
    argv: list[str | bytes] = [sys.executable, "-c", code, "--data-dir", str(data), *args]
    return subprocess.run(
        argv, capture_output=True, cwd=ROOT, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
    )


def stderr_of(result: subprocess.CompletedProcess) -> str:
    return result.stderr.decode("utf-8", "backslashreplace")


# -- 1. invalid UTF-8 in command-line arguments -------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        [b"ask", b"\xff\xfe Who won the Grammy?"],
        [b"ask", b"--source", b"\xff", b"Who won the Grammy?"],
        [b"ask", b"--since", b"2025-01-01\xff", b"Who won the Grammy?"],
        [b"index", b"remove", b"\xff"],
        [b"index", b"add", b"https://example.com/\xff"],
    ],
    ids=["question", "source", "since", "remove", "url"],
)
def test_invalid_utf8_arguments_are_refused_in_one_line(tmp_path, args):
    # The real model's process: the question encoder is what raised TypeError on the question.
    result = run_cli(tmp_path / "data", *args, fast=False)
    err = stderr_of(result)
    assert result.returncode == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "not valid UTF-8" in lines[0], err
    assert not (tmp_path / "data" / "news.sqlite3").exists()  # refused before any store work


def test_no_exception_escapes_main_as_a_traceback(tmp_path):
    """An error no command expects (here a damaged bot database) is one line, not a trace."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "bot.sqlite3").write_bytes(b"not a database " * 20)
    result = run_cli(data, "feedback")
    err = stderr_of(result)
    assert result.returncode == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "error: unexpected DatabaseError: file is not a database (a bug: please report it;"
        " --debug shows the traceback)"
    ]
    assert "Traceback" in stderr_of(run_cli(data, "--debug", "feedback"))


def test_the_engine_refuses_text_that_is_not_unicode(fast_engine):
    for call in (lambda: fast_engine.ask("Who won\udcff?"),
                 lambda: fast_engine.ask("Who won?", source="\udcff"),
                 lambda: fast_engine.remove(["\udcff"])):
        with pytest.raises(InputError, match="not valid UTF-8"):
            call()


# -- 2. file names that are not UTF-8 -----------------------------------------------------------
def test_a_file_name_that_is_not_utf8_is_named_safely_and_the_rest_is_added(tmp_path, fast_engine):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "good.txt").write_text(f"Budget story\n{STORY}\n")
    bad_name = os.fsdecode(b"\xff\xfe bridge.txt")
    (folder / bad_name).write_text("Bridge story\nThe mayor opened a new bridge on Monday.\n")

    report = fast_engine.add_paths([str(folder)])
    assert report.skipped == []
    assert sorted(a.title for a in report.added) == ["Bridge story", "Budget story"]
    [bridge] = [a for a in report.added if a.title == "Bridge story"]
    assert bridge.origin.endswith("\\xff\\xfe bridge.txt")  # the bytes, written as escapes
    stored = fast_engine.store.find(bridge.id)
    assert stored is not None and stored.origin == bridge.origin


def test_the_cli_adds_a_folder_holding_a_name_that_is_not_utf8(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "good.txt").write_text(f"Budget story\n{STORY}\n")
    (folder / os.fsdecode(b"\xff.txt")).write_text(f"Other story\n{STORY} Again.\n")
    result = run_cli(tmp_path / "data", "index", "add", str(folder))
    err = stderr_of(result)
    assert result.returncode == 0, err
    assert "2 added" in err and "Traceback" not in err


# -- 3. JSON Lines judged line by line ----------------------------------------------------------
def jsonl_line(n: int, text: str | None = None) -> bytes:
    record = {"title": f"Story {n}", "url": f"https://example.com/{n}",
              "text": text or f"{STORY} Report number {n} of the series."}
    return json.dumps(record).encode()


def test_bad_jsonl_lines_are_reported_by_number_and_the_rest_are_added(tmp_path):
    lines = [jsonl_line(n) for n in range(1, 2001)]
    lines[1] = lines[1].replace(b"Report", b"Rep\x00ort")  # raw NUL on line 2
    lines[4] = lines[4].replace(b"Report", b"Rep\xffort")  # invalid UTF-8 on line 5
    lines[6] = jsonl_line(7, "Escaped \\u0000 NUL: " + STORY).replace(b"\\\\u0000", b"\\u0000")
    lines[8] = jsonl_line(9, "A lone \\ud800 surrogate: " + STORY).replace(b"\\\\ud800", b"\\ud800")
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = read_paths([path], FetchSettings())
    reasons = [s.reason for s in result.skipped]
    assert len(reasons) == 2, reasons
    assert reasons[0].startswith("line 2:") and "NUL" in reasons[0]
    assert reasons[1].startswith("line 5:") and "not UTF-8" in reasons[1]
    assert len(result.articles) == 1998
    by_title = {a.title: a for a in result.articles}
    assert by_title["Story 7"].text.startswith("Escaped  NUL:") or \
        by_title["Story 7"].text.startswith("Escaped NUL:")
    assert all("\x00" not in a.text for a in result.articles)
    assert "\ud800" not in by_title["Story 9"].text


def test_escaped_nul_and_surrogates_never_reach_the_store(tmp_path, fast_engine):
    path = tmp_path / "few.jsonl"
    path.write_bytes(b"\n".join([
        jsonl_line(1, "Escaped \\u0000 NUL: " + STORY).replace(b"\\\\u0000", b"\\u0000"),
        jsonl_line(2, "A lone \\ud800 surrogate: " + STORY).replace(b"\\\\ud800", b"\\ud800"),
        json.dumps({"title": "Bad\u0000 title", "text": STORY + " Third."}).encode(),
    ]))
    report = fast_engine.add_paths([str(path)])
    assert len(report.added) == 3, report.skipped
    rows = fast_engine.store.db.connection().execute(
        "SELECT count(*) FROM articles WHERE instr(text, char(0)) OR instr(title, char(0))"
    ).fetchone()[0]
    assert rows == 0


# -- 4. folders that cannot be read -------------------------------------------------------------
READ_AS_CHILD = """
import json, sys
from index.readers import read_paths
from index.settings import FetchSettings
result = read_paths(sys.argv[1:], FetchSettings())
print(json.dumps({"titles": [a.title for a in result.articles],
                  "skipped": [[s.origin, s.reason] for s in result.skipped]}))
"""


@pytest.fixture
def locked_tmp(tmp_path) -> Iterator[Path]:
    """A temporary folder whose mode-000 sub-folders are opened again afterwards."""
    yield tmp_path
    for sub in tmp_path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)


def read_without_privileges(*paths: Path) -> dict:
    """read_paths in a process that really cannot list mode-000 folders. Root is not stopped
    by modes (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so as root the child runs without those
    two capabilities (util-linux setpriv), still as root: the folders are root's, mode 000."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: no way to make a folder unreadable")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]
    done = subprocess.run(
        [*prefix, sys.executable, "-c", READ_AS_CHILD, *map(str, paths)], capture_output=True,
        text=True, cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_folder_that_cannot_be_read_is_reported(locked_tmp):
    top = locked_tmp / "news"
    (top / "nested" / "locked").mkdir(parents=True)
    (top / "locked").mkdir()
    (top / "ok.txt").write_text(f"Readable story\n{STORY}\n")
    (top / "locked" / "hidden.txt").write_text(f"Locked story\n{STORY}\n")
    (top / "nested" / "locked" / "deep.txt").write_text(f"Deep story\n{STORY}\n")
    for locked in (top / "locked", top / "nested" / "locked"):
        for path in (locked, *locked.iterdir()):
            path.chmod(0o644 if path.is_file() else 0o755)
        locked.chmod(0o000)

    found = read_without_privileges(top)
    assert found["titles"] == ["Readable story"]
    reported = {origin: reason for origin, reason in found["skipped"]}
    assert set(reported) == {str(top / "locked"), str(top / "nested" / "locked")}
    assert all("could not read the folder" in r and "ermission denied" in r
               for r in reported.values())

    alone = read_without_privileges(top / "locked")
    assert alone["titles"] == []
    assert alone["skipped"] == [[str(top / "locked"),
                                 "could not read the folder: Permission denied"]]


# -- 5. malformed and entity-expanding feeds ----------------------------------------------------
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">'
        for i in range(1, 10)
    )
    + ']><rss version="2.0"><channel><title>Laughs</title><item><title>&lol9;</title>'
    "<description>" + STORY + "</description></item></channel></rss>"
)
QUADRATIC = (
    f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{"A" * 50000}">]>'
    '<rss version="2.0"><channel><title>Blowup</title><item><title>Blowup</title>'
    f"<description>{'&a;' * 2000}</description></item></channel></rss>"
)
NOT_WELL_FORMED = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title>'
    f"<item><title>Tom & Jerry</title><description>{STORY}</description></item>"
    "</channel></rss>"
)


@pytest.mark.parametrize(
    ("document", "reason"),
    [(BILLION_LAUGHS, "entities"), (QUADRATIC, "entities"),
     (NOT_WELL_FORMED, "not well-formed XML")],
    ids=["billion-laughs", "quadratic-blowup", "not-well-formed"],
)
def test_a_broken_feed_is_refused_whole(tmp_path, document, reason):
    path = tmp_path / "feed.xml"
    path.write_text(document)
    result = read_feed(str(path), FetchSettings())
    assert result.articles == []
    [skipped] = result.skipped
    assert reason in skipped.reason


# -- 6. third-party log lines -------------------------------------------------------------------
def test_library_logs_stay_out_of_the_output_unless_debug(tmp_path):
    empty = tmp_path / "empty.html"
    empty.write_text("   <!-- nothing here -->")
    result = run_cli(tmp_path / "data", "index", "add", str(empty))
    err = stderr_of(result)
    assert result.returncode == 1
    assert "no article text was found in the HTML" in err
    assert "trafilatura" not in err and "ERROR" not in err and "WARNING" not in err, err

    debug = run_cli(tmp_path / "data", "--debug", "index", "add", str(empty))
    assert "trafilatura" in stderr_of(debug)


# -- 7. dates parsed whole ----------------------------------------------------------------------
@pytest.mark.parametrize("value", ["2025-01-01garbage", "2025-01-01 and more", "2025-13-01",
                                   "2025-01-0"])
def test_a_date_with_anything_else_is_refused(fast_engine, value):
    with pytest.raises(InputError, match="is not a date"):
        fast_engine.ask("Who won?", since=value)
    with pytest.raises(InputError, match="is not a date"):
        as_of_day(value)


def test_whole_dates_and_date_times_are_accepted(fast_engine):
    assert as_of_day("2025-01-31").isoformat() == "2025-01-31"
    assert as_of_day("2025-01-31T10:30:00+02:00").isoformat() == "2025-01-31"
    fast_engine.ask("Who won?", since=" 2025-01-01 ", until="2025-02-01T00:00:00")


def test_the_cli_refuses_a_date_with_trailing_junk(tmp_path):
    result = run_cli(tmp_path / "data", "ask", "--since", "2025-01-01garbage", "Who won?")
    err = stderr_of(result)
    assert result.returncode == 1 and "--since" in err and "garbage" in err
    assert "Traceback" not in err


# -- 8. a feed read has a total deadline, titles a length cap ----------------------------------
def rss(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        "<description>Short teaser.</description></item>"
        for title, link in items
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title>{body}'
            "</channel></rss>").encode()


def test_one_feed_read_ends_by_its_deadline():
    site = Site()
    try:
        def slow(request) -> None:
            time.sleep(2.5)
            try:
                request.send_response(200)
                request.send_header("Content-Type", "text/html")
                request.end_headers()
                request.wfile.write(b"<html><body><p>late</p></body></html>")
            except OSError:
                pass  # the reader gave up on this page at its deadline, as it should

        links = []
        for n in range(12):
            site.routes[f"/slow/{n}"] = slow
            links.append((f"Entry {n}", site.url(f"/slow/{n}")))
        feed = site.serve("/feed.xml", rss(links), "application/rss+xml")
        fetch = FetchSettings(allow_private=True, timeout_s=5, feed_timeout_s=1.5)
        started = time.monotonic()
        result = read_feed(feed, fetch)
        elapsed = time.monotonic() - started
    finally:
        site.close()
    # 12 pages of 2.5 s, 4 at a time, took 7.5 s; now the read stops at its deadline.
    assert elapsed < 4.0, elapsed
    assert result.articles == []
    assert len(result.skipped) == 12
    assert any("feed_timeout_s" in s.reason for s in result.skipped)


def test_a_long_title_is_cut(tmp_path):
    path = tmp_path / "long.xml"
    title = "word " * 2000
    path.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>'
        f"<item><title>{title}</title><description>{STORY * 10}</description></item>"
        "</channel></rss>"
    )
    [article] = read_feed(str(path), FetchSettings()).articles
    assert article.title is not None
    assert len(article.title) <= MAX_TITLE_CHARS and article.title.endswith("…")
