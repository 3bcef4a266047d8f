"""Reading articles from real files and folders, from uploaded bytes, and normalising metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.readers import canonical_url, read_bytes, read_paths
from index.readers.normalize import normalise_date
from index.settings import FetchSettings

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_1fcdc2a48f4510a7.txt"
FIXTURES = Path(__file__).parent / "fixtures" / "readers"
FETCH = FetchSettings()

BODY = (
    "The city council voted on Tuesday to extend the tram line to the airport.\n"
    "Construction is due to start next year and take about three years."
)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def only_skip_reason(path: Path | str, fetch: FetchSettings = FETCH) -> str:
    result = read_paths([path], fetch)
    assert result.articles == []
    assert len(result.skipped) == 1
    assert result.skipped[0].origin == str(path)
    return result.skipped[0].reason


# -- plain text and Markdown ----------------------------------------------------------------


def test_the_seed_has_no_title_and_keeps_its_first_sentence() -> None:
    result = read_paths([SEED], FETCH)
    assert result.skipped == []
    [article] = result.articles
    assert article.title is None
    assert article.text.startswith(
        "RUSSIAN President Vladimir Putin has said demilitarisation of Ukraine"
    )
    for line in ("READ ALSO:", "Guterres warns against use of nuclear weapons",
                 "Kyiv takeover", "Contrasting fortunes of Russian and Ukrainian embassies"):
        assert line not in article.text
    assert article.text.endswith("will be investigated.")
    assert "Podolyak said." in article.text
    assert (article.url, article.source, article.published, article.author) == (None,) * 4
    assert article.origin == str(SEED)


def test_a_headline_first_line_becomes_the_title(tmp_path: Path) -> None:
    path = write(tmp_path / "tram.txt", f"Council backs airport tram\n\n{BODY}\n")
    [article] = read_paths([path], FETCH).articles
    assert article.title == "Council backs airport tram"
    assert article.text == BODY


@pytest.mark.parametrize(
    "first_line",
    [
        "The council voted on Tuesday.",
        "“We will build it,” the mayor said”",
        "Will the tram ever reach the airport?",
        "A very long first line " + "with many words " * 12,
        "READ ALSO:",
    ],
)
def test_a_first_line_that_is_not_a_headline_stays_in_the_text(
    tmp_path: Path, first_line: str
) -> None:
    path = write(tmp_path / "a.txt", f"{first_line}\n{BODY}")
    [article] = read_paths([path], FETCH).articles
    assert article.title is None
    if first_line != "READ ALSO:":
        assert article.text.startswith(first_line.strip())


def test_a_single_line_file_is_text_not_a_title(tmp_path: Path) -> None:
    path = write(tmp_path / "one.txt", "Council backs airport tram")
    [article] = read_paths([path], FETCH).articles
    assert (article.title, article.text) == (None, "Council backs airport tram")


def test_front_matter_gives_the_metadata(tmp_path: Path) -> None:
    path = write(
        tmp_path / "tram.md",
        "---\n"
        'title: "Council backs airport tram"\n'
        "url: HTTPS://News.Example.com/tram?utm_source=feed&id=4#top\n"
        "source: City Times\n"
        "published: 2025/01/03\n"
        "author: Ana Silva\n"
        "tags: transport\n"
        "---\n"
        f"# Council backs airport tram\n\n{BODY}\n\nSee the [full plan](https://example.com/plan).",
    )
    [article] = read_paths([path], FETCH).articles
    assert article.title == "Council backs airport tram"
    assert article.url == "https://news.example.com/tram?id=4"
    assert article.source == "City Times"
    assert article.published == "2025-01-03"
    assert article.author == "Ana Silva"
    assert article.text == BODY + "\n\nSee the full plan."


def test_front_matter_without_a_title_falls_back_to_the_heuristic(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md", f"---\ndate: 2025-01-03T10:00:00Z\n---\n# Tram vote\n{BODY}")
    [article] = read_paths([path], FETCH).articles
    assert article.title == "Tram vote"
    assert article.published == "2025-01-03T10:00:00+00:00"
    assert article.url is None and article.source is None and article.author is None


def test_a_markdown_rule_is_not_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md", f"---\n{BODY}\n---\nMore text follows here.")
    [article] = read_paths([path], FETCH).articles
    assert "Construction is due to start" in article.text
    assert "More text follows here." in article.text


# -- HTML -------------------------------------------------------------------------------------


def test_an_html_file_gives_text_and_metadata() -> None:
    path = FIXTURES / "article.html"
    [article] = read_paths([path], FETCH).articles
    assert article.title == "Harbour bridge reopens after repairs"
    assert article.source == "Coastal Herald"
    assert article.author == "Maria Lopez"
    assert article.published == "2024-11-05"
    assert article.url == "https://www.coastal-herald.example/news/harbour-bridge-reopens"
    assert article.text.startswith("The harbour bridge reopened to traffic on Tuesday morning")
    assert "would begin next spring" in article.text
    for furniture in ("Advertisement", "READ ALSO", "Ferry operators report record",
                      "Subscribe to our newsletter", "All rights reserved", "Home"):
        assert furniture not in article.text


def test_an_html_file_without_metadata_leaves_it_unknown(tmp_path: Path) -> None:
    paragraphs = "".join(f"<p>{line}</p>" for line in BODY.split("\n")) * 3
    path = write(tmp_path / "bare.htm", f"<html><body><div>{paragraphs}</div></body></html>")
    [article] = read_paths([path], FETCH).articles
    assert "tram line to the airport" in article.text
    assert (article.url, article.source, article.published, article.author) == (None,) * 4


def test_an_html_file_without_article_text_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.html", "<html><head><title>x</title></head><body></body></html>")
    assert "no article text" in only_skip_reason(path)


# -- JSON and JSON Lines ----------------------------------------------------------------------


def record(**fields: object) -> dict:
    return {"title": "Council backs airport tram", "text": BODY, **fields}


def test_a_json_object_is_one_article(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.json",
        json.dumps(
            record(url="https://example.com/tram?fbclid=1", source="City Times",
                   date="Fri, 03 Jan 2025 10:00:00 +0000", author=["Ana Silva", "Ben Ito"])
        ),
    )
    [article] = read_paths([path], FETCH).articles
    assert article.title == "Council backs airport tram"
    assert article.text == BODY
    assert article.url == "https://example.com/tram"
    assert article.published == "2025-01-03T10:00:00+00:00"
    assert article.author == "Ana Silva, Ben Ito"


def test_a_json_list_is_many_articles_and_bad_items_are_named(tmp_path: Path) -> None:
    items = [
        record(),
        {"title": "No text here"},
        record(title="Second", text=None, body="Body text of the second article."),
        "not an object",
        record(title="Third", text=None, content="<p>First para.</p><p>Second para.</p>"),
    ]
    path = write(tmp_path / "list.json", json.dumps(items))
    result = read_paths([path], FETCH)
    assert [a.title for a in result.articles] == ["Council backs airport tram", "Second", "Third"]
    assert result.articles[2].text == "First para.\nSecond para."
    assert result.articles[1].origin == f"{path} (item 3)"
    reasons = [s.reason for s in result.skipped]
    assert reasons[0].startswith("item 2: the record has no text")
    assert "'text', 'body', 'content'" in reasons[0]
    assert reasons[1].startswith("item 4: expected an article object")


def test_invalid_json_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.json", '{"title": "x", "text": ')
    assert only_skip_reason(path).startswith("invalid JSON")


def test_a_json_scalar_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "n.json", "42")
    assert "article object" in only_skip_reason(path)


def test_jsonl_reads_every_good_line_and_names_the_bad_ones(tmp_path: Path) -> None:
    lines = [
        json.dumps(record(title="One")),
        "",
        '{"title": "Broken", "text": "unterminated',
        json.dumps(record(title="Three", published="2025-01-03")),
        json.dumps({"title": "No text"}),
    ]
    path = write(tmp_path / "many.jsonl", "\n".join(lines) + "\n")
    result = read_paths([path], FETCH)
    assert [a.title for a in result.articles] == ["One", "Three"]
    assert result.articles[1].published == "2025-01-03"
    assert result.articles[1].origin == f"{path} (line 4)"
    reasons = [s.reason for s in result.skipped]
    assert reasons[0].startswith("line 3: invalid JSON")
    assert reasons[1].startswith("line 5: the record has no text")
    assert all(s.origin == str(path) for s in result.skipped)


def test_a_record_with_only_boilerplate_text_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "ad.jsonl", json.dumps(record(text="Advertisement\nSubscribe now")))
    assert "no article text is left" in only_skip_reason(path)


# -- bad inputs ------------------------------------------------------------------------------


def test_a_missing_path_is_skipped(tmp_path: Path) -> None:
    assert only_skip_reason(tmp_path / "nope.txt") == "no such file or folder"


@pytest.mark.parametrize("content", ["", "   \n\n\t  "])
def test_an_empty_file_is_skipped(tmp_path: Path, content: str) -> None:
    assert only_skip_reason(write(tmp_path / "empty.txt", content)) == "the file is empty"


def test_a_binary_file_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert "binary" in only_skip_reason(path)


def test_an_undecodable_file_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.txt", "Le café était fermé.".encode("latin-1"))
    assert "not UTF-8" in only_skip_reason(path)


def test_a_file_over_the_size_limit_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "word " * 400)
    reason = only_skip_reason(path, FetchSettings(max_file_bytes=1000))
    assert reason == "the file is 2.0 kB, over the limit of 1.0 kB"


def test_an_unsupported_extension_names_the_supported_ones(tmp_path: Path) -> None:
    reason = only_skip_reason(write(tmp_path / "report.pdf", b"%PDF-1.4"))
    assert reason.startswith("unsupported file type '.pdf'")
    for suffix in (".txt", ".md", ".html", ".htm", ".json", ".jsonl"):
        assert suffix in reason


def test_text_that_is_only_boilerplate_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "ads.txt", "Advertisement\nSubscribe to our newsletter\n")
    assert only_skip_reason(path) == "no article text is left after removing page boilerplate"


# -- folders ---------------------------------------------------------------------------------


def test_folders_are_read_recursively_in_order_without_hidden_files(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", f"Second\n{BODY}")
    write(tmp_path / "a.txt", f"First\n{BODY}")
    write(tmp_path / "sub" / "c.md", f"Third\n{BODY}")
    write(tmp_path / "sub" / "deeper" / "d.json", json.dumps(record(title="Fourth")))
    write(tmp_path / ".hidden.txt", f"Hidden\n{BODY}")
    write(tmp_path / ".git" / "e.txt", f"Hidden too\n{BODY}")
    write(tmp_path / "notes.csv", "a,b\n1,2\n")
    result = read_paths([tmp_path], FETCH)
    assert [a.title for a in result.articles] == ["First", "Second", "Third", "Fourth"]
    assert [(s.origin, s.reason.split(";")[0]) for s in result.skipped] == [
        (str(tmp_path / "notes.csv"), "unsupported file type '.csv'")
    ]


def test_several_paths_collect_everything(tmp_path: Path) -> None:
    good = write(tmp_path / "good.txt", BODY)
    result = read_paths([good, str(tmp_path / "missing.md"), SEED], FETCH)
    assert len(result.articles) == 2
    assert [s.origin for s in result.skipped] == [str(tmp_path / "missing.md")]


# -- uploaded bytes --------------------------------------------------------------------------


def test_read_bytes_uses_the_name_for_format_and_origin() -> None:
    result = read_bytes("Tram.TXT", f"Council backs airport tram\n{BODY}".encode(), FETCH)
    [article] = result.articles
    assert (article.title, article.origin) == ("Council backs airport tram", "Tram.TXT")


def test_read_bytes_reads_jsonl_and_html() -> None:
    lines = "\n".join(json.dumps(record(title=t)) for t in ("A", "B")).encode()
    assert [a.title for a in read_bytes("feed.jsonl", lines, FETCH).articles] == ["A", "B"]
    html = (FIXTURES / "article.html").read_bytes()
    [article] = read_bytes("page.html", html, FETCH).articles
    assert article.title == "Harbour bridge reopens after repairs"


@pytest.mark.parametrize(
    ("name", "data", "fetch", "reason"),
    [
        ("a.exe", b"MZ\x90\x00", FETCH, "unsupported file type '.exe'"),
        ("noext", b"text", FETCH, "unsupported file type without an extension"),
        ("a.txt", b"", FETCH, "the file is empty"),
        ("a.txt", b"x" * 2000, FetchSettings(max_file_bytes=1000), "the file is 2.0 kB"),
        ("a.md", b"abc\x00def", FETCH, "the file is binary, not text"),
    ],
)
def test_read_bytes_skips_bad_uploads(
    name: str, data: bytes, fetch: FetchSettings, reason: str
) -> None:
    result = read_bytes(name, data, fetch)
    assert result.articles == []
    assert result.skipped[0].origin == name
    assert result.skipped[0].reason.startswith(reason)


# -- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025/01/03", "2025-01-03"),
        ("2025-1-3", "2025-01-03"),
        ("2025-01-03T10:00:00Z", "2025-01-03T10:00:00+00:00"),
        ("2025-01-03T10:00:00.123+05:30", "2025-01-03T10:00:00+05:30"),
        ("2025-01-03 10:00", "2025-01-03T10:00:00"),
        ("Fri, 03 Jan 2025 10:00:00 +0000", "2025-01-03T10:00:00+00:00"),
        ("Fri, 03 Jan 2025 10:00:00 GMT", "2025-01-03T10:00:00+00:00"),
        ("January 3, 2025", "2025-01-03"),
        ("3 Jan 2025 14:30 GMT", "2025-01-03T14:30:00+00:00"),
        ("13/04/2025", "2025-04-13"),
        ("04/13/2025", "2025-04-13"),
        ("03/04/2025", None),  # day and month order unknowable
        ("January 2025", None),  # no day: not invented
        ("2025", None),
        ("2025-02-30", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_dates_are_normalised_or_left_unknown(raw: str | None, expected: str | None) -> None:
    assert normalise_date(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://News.Example.COM:443/a/b?utm_source=x&id=3&fbclid=z&gclid=1#frag",
         "https://news.example.com/a/b?id=3"),
        ("http://example.com", "http://example.com/"),
        ("http://Example.com:8080/x?b=2&a=1#top", "http://example.com:8080/x?b=2&a=1"),
        ("http://example.com/x?q=a%20b&utm_medium=email", "http://example.com/x?q=a+b"),
        ("https://user:pw@example.com/x", "https://example.com/x"),
        ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
        ("  article-123  ", "article-123"),
    ],
)
def test_urls_are_canonical(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_json_nested_too_deeply_is_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "deep.jsonl", "[" * 100_000 + "\n" + json.dumps(record()))
    result = read_paths([path], FETCH)
    assert len(result.articles) == 1
    assert result.skipped[0].reason == "line 1: invalid JSON (nested too deeply)"
