"""RSS and Atom feeds from files and from a loopback server; short entries fetch their pages."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest

from index.readers import read_feed
from index.settings import FetchSettings
from tests.test_readers_web import Site, page

FIXTURES = Path(__file__).parent / "fixtures" / "readers"
PRIVATE_OK = FetchSettings(allow_private=True, timeout_s=5)
LONG_TEXT = " ".join(
    f"Paragraph sentence number {n} tells readers a little more about the story."
    for n in range(12)
)


def rss(items: list[dict[str, str]], title: str = "Loopback Gazette") -> bytes:
    """An RSS 2.0 document; each item may have title, link, description, content, pubDate."""
    parts = []
    for item in items:
        fields = [f"<title>{escape(item.get('title', ''))}</title>"]
        if "link" in item:
            fields.append(f"<link>{escape(item['link'])}</link>")
        if "pubDate" in item:
            fields.append(f"<pubDate>{item['pubDate']}</pubDate>")
        if "description" in item:
            fields.append(f"<description>{escape(item['description'])}</description>")
        if "content" in item:
            fields.append(f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>{escape(title)}</title><link>http://example.com/</link>"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


# -- full-text feeds ----------------------------------------------------------------------------


def test_an_rss_file_with_full_text() -> None:
    result = read_feed(str(FIXTURES / "feed_rss.xml"), FetchSettings())
    assert result.skipped == []
    first, second = result.articles
    assert first.title == "Water company fined over river pollution"
    assert first.url == "https://valley-gazette.example/news/water-fine"
    assert first.source == "Valley Gazette"
    assert first.published == "2025-01-06T09:15:00+00:00"
    assert first.author == "Tom Baker"
    assert first.text.startswith("The regional water company was fined 3.2 million pounds")
    assert "Advertisement" not in first.text
    assert first.text.count("\n") == 3  # four paragraphs, one per line
    assert second.title == "New library opens in the old market hall"
    assert second.published == "2025-01-07T17:40:00+01:00"
    assert second.author is None


def test_an_atom_file_with_full_text() -> None:
    [article] = read_feed(str(FIXTURES / "feed_atom.xml"), FetchSettings()).articles
    assert article.title == "Glacier retreat measured with drones"
    assert article.url == "https://science-desk.example/glacier-drones"
    assert article.source == "Northern Science Desk"
    assert article.published == "2025-02-10T12:00:00+00:00"  # published, not updated
    assert article.author == "Ingrid Dahl"
    assert "more than forty metres" in article.text


def test_full_text_entries_do_not_fetch_their_pages(site: Site) -> None:
    site.serve("/story", page("Page version"))
    feed = rss([{"title": "Feed version", "link": site.url("/story"), "content": LONG_TEXT}])
    url = site.serve("/feed.xml", feed, content_type="application/rss+xml")
    [article] = read_feed(url, PRIVATE_OK).articles
    assert article.title == "Feed version"
    assert article.text == LONG_TEXT
    assert site.requests == ["/feed.xml"]


# -- summary-only feeds -------------------------------------------------------------------------


def test_summary_only_entries_are_replaced_by_their_pages(site: Site) -> None:
    site.serve("/a", page("Bridge reopens"))
    site.serve("/b", page("Library opens"))
    feed = rss(
        [
            {"title": "Bridge reopens", "link": site.url("/a?utm_source=rss"),
             "description": "The bridge is open again.",
             "pubDate": "Mon, 06 Jan 2025 09:00:00 GMT"},
            {"title": "Library opens", "link": site.url("/b"),
             "description": "<p>A short teaser.</p>"},
        ]
    )
    url = site.serve("/feed", feed, content_type="application/xml")
    result = read_feed(url, PRIVATE_OK)
    assert result.skipped == []
    first, second = result.articles
    assert first.title == "Bridge reopens"
    assert first.text.startswith("Bridge reopens: the first paragraph explains")
    assert "The bridge is open again." not in first.text
    assert first.url == site.url("/a")
    assert first.source == "Loopback Gazette"  # the feed's name, over the page's
    assert first.published == "2025-01-06T09:00:00+00:00"
    assert second.text.startswith("Library opens: the first paragraph")
    # the link's tracking parameters are dropped before it is fetched
    assert sorted(site.requests) == ["/a", "/b", "/feed"]


def test_a_summary_entry_whose_page_fails_is_skipped(site: Site) -> None:
    site.serve("/good", page("Good page"))
    feed = rss(
        [
            {"title": "Gone", "link": site.url("/gone"), "description": "A teaser."},
            {"title": "Good", "link": site.url("/good"), "description": "Another teaser."},
        ]
    )
    result = read_feed(site.serve("/feed", feed, content_type="text/xml"), PRIVATE_OK)
    assert [a.title for a in result.articles] == ["Good"]
    [skipped] = result.skipped
    assert skipped.origin == site.url("/gone")
    assert "short summary" in skipped.reason and "HTTP 404" in skipped.reason


def test_linked_pages_go_through_the_address_guard(tmp_path: Path, site: Site) -> None:
    site.serve("/a", page("Internal page"))
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(rss([{"title": "T", "link": site.url("/a"), "description": "Short."}]))
    result = read_feed(str(feed_file), FetchSettings())
    assert result.articles == []
    assert "loopback" in result.skipped[0].reason
    assert site.requests == []


def test_an_entry_without_link_or_text_is_skipped(tmp_path: Path) -> None:
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(rss([{"title": "Nothing"}, {"title": "Short", "description": "Hi."}]))
    result = read_feed(str(feed_file), FetchSettings())
    assert [a.text for a in result.articles] == ["Hi."]  # all there is, and nothing to fetch
    assert result.skipped[0].reason == "entry 1: the article has no text"


# -- limits and bad feeds ----------------------------------------------------------------------


def test_entries_are_capped(tmp_path: Path) -> None:
    items = [{"title": f"Story {n}", "content": LONG_TEXT + f" {n}"} for n in range(5)]
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(rss(items))
    result = read_feed(str(feed_file), FetchSettings(max_feed_entries=2))
    assert [a.title for a in result.articles] == ["Story 0", "Story 1"]
    assert result.skipped[0].reason.startswith("the feed has 5 entries; only the first 2")


def test_a_loopback_feed_url_is_refused_by_default(site: Site) -> None:
    url = site.serve("/feed", rss([]), content_type="application/rss+xml")
    [skipped] = read_feed(url, FetchSettings()).skipped
    assert skipped.origin == url and "loopback" in skipped.reason
    assert site.requests == []


def test_a_feed_url_with_the_wrong_content_type_is_refused(site: Site) -> None:
    url = site.serve("/feed", b"%PDF-1.4", content_type="application/pdf")
    assert "content type" in read_feed(url, PRIVATE_OK).skipped[0].reason


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/feed", "only http and https"),
        ("/no/such/feed.xml", "no such feed file"),
    ],
)
def test_unreadable_feed_references_are_skipped(ref: str, reason: str) -> None:
    result = read_feed(ref, FetchSettings())
    assert result.articles == []
    assert reason in result.skipped[0].reason


def test_a_file_that_is_not_a_feed_is_skipped(tmp_path: Path) -> None:
    not_feed = tmp_path / "notes.xml"
    not_feed.write_text("this is <not> a feed & never was", encoding="utf-8")
    [skipped] = read_feed(str(not_feed), FetchSettings()).skipped
    assert "not a valid RSS or Atom feed" in skipped.reason
    empty_feed = tmp_path / "empty.xml"
    empty_feed.write_bytes(rss([]))
    [skipped] = read_feed(str(empty_feed), FetchSettings()).skipped
    assert skipped.reason == "the feed has no entries"
