"""Ingestion findings of issue 18: XML entities that got past the feed check (item 15) and
folders reached through a symbolic link (item 16)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from index.readers import read_feed
from index.settings import FetchSettings
from tests.test_ingest_findings import STORY, run_cli, stderr_of


def stored_titles(data: Path) -> list[str]:
    """The titles in the SQLite store under `data`, read straight from its database."""
    with contextlib.closing(sqlite3.connect(data / "news.sqlite3")) as conn:
        return [row[0] for row in conn.execute("SELECT title FROM articles ORDER BY title")]


# -- 15. entity declarations, however they are hidden -----------------------------------------
def _feed(prolog: str) -> str:
    return (prolog + '<rss version="2.0"><channel><title>Feed</title><item><title>&e;</title>'
            f"<description>{STORY}</description></item></channel></rss>")


DECLARED = '<!DOCTYPE rss [<!ENTITY e "EXPANDED">]>'
HIDDEN = {
    # a `]>` in a comment ended the old scan's idea of the document type early
    "comment": _feed('<?xml version="1.0"?><!-- ]> -->' + DECLARED).encode(),
    # the old scan looked at the first 64 KiB only
    "after-64k": _feed('<?xml version="1.0"?><!--' + "x" * 70_000 + "-->" + DECLARED).encode(),
    # the old scan looked for the ASCII bytes of "<!DOCTYPE"
    "utf-16": _feed('<?xml version="1.0" encoding="UTF-16"?>' + DECLARED).encode("utf-16"),
}


@pytest.mark.parametrize("name", list(HIDDEN))
def test_an_entity_declaration_is_refused_wherever_it_hides(tmp_path, name):
    path = tmp_path / "feed.xml"
    path.write_bytes(HIDDEN[name])
    result = read_feed(str(path), FetchSettings())
    assert [a.title for a in result.articles] == []
    [skipped] = result.skipped
    assert "declares XML entities" in skipped.reason


def test_an_entity_is_never_expanded_into_a_stored_title(tmp_path):
    path = tmp_path / "feed.xml"
    path.write_bytes(HIDDEN["comment"])
    data = tmp_path / "data"
    added = run_cli(data, "index", "add", "--feed", str(path))
    assert "declares XML entities" in stderr_of(added)
    assert "EXPANDED" not in stored_titles(data)


@pytest.mark.parametrize(
    ("encoding", "prolog"),
    [
        ("utf-16", '<?xml version="1.0" encoding="UTF-16"?>'),
        ("windows-1252", '<?xml version="1.0" encoding="windows-1252"?>'),
        ("utf-8", '<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD'
                  ' RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">'),
    ],
    ids=["utf-16", "windows-1252", "external-dtd"],
)
def test_a_feed_without_entities_still_reads(tmp_path, encoding, prolog):
    document = (prolog + '<rss version="0.91"><channel><title>Feed</title><item>'
                f"<title>Caf\u00e9 news</title><description>{STORY}</description></item>"
                "</channel></rss>")
    path = tmp_path / "feed.xml"
    path.write_bytes(document.encode(encoding))
    result = read_feed(str(path), FetchSettings())
    assert [a.title for a in result.articles] == ["Caf\u00e9 news"], result.skipped


# -- 16. folders reached through a symbolic link ----------------------------------------------
def test_a_linked_folder_is_read_and_a_loop_is_reported(tmp_path):
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "council.txt").write_text(f"Council story\n{STORY}\n")
    (articles / "harbour.txt").write_text(
        "Harbour story\nThe harbour reopened on Monday after a storm closed it for two weeks.\n"
    )
    top = tmp_path / "t" / "top"
    (top / "inner").mkdir(parents=True)
    (top / "linked").symlink_to(articles, target_is_directory=True)
    (top / "inner" / "back").symlink_to(top, target_is_directory=True)  # a loop
    (top / "again").symlink_to(articles, target_is_directory=True)  # the same folder twice
    data = tmp_path / "data"

    added = run_cli(data, "index", "add", str(top))
    err = stderr_of(added)
    assert added.returncode == 0, err
    assert "2 added" in err, err
    assert f"{top / 'inner' / 'back'}: a link to {top}, a folder it is in (a loop)" in err, err
    assert f"{top / 'linked'}: a link to {articles}, already read as {top / 'again'}" in err, err
    assert stored_titles(data) == ["Council story", "Harbour story"]
