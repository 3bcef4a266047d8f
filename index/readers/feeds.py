"""Articles from RSS and Atom feeds (a URL or a local file), parsed with feedparser.

An entry that carries its full text becomes an article as it is. One with only a short summary
is replaced by its linked page, fetched through the same guarded fetcher as any other URL.
feedparser never fetches anything itself: it only ever sees bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import time
import xml.sax
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import feedparser

from index.errors import InputError
from index.models import ArticleInput, ReadResult, Skipped
from index.readers import transport
from index.readers.formats import html_fragment_text
from index.readers.netguard import AddressPolicy
from index.readers.normalize import clean_meta, http_url, normalise_date
from index.readers.records import build_article, cap_title
from index.readers.web import fetch_url, map_in_threads
from index.readers.xmlguard import entity_problem

if TYPE_CHECKING:
    from collections.abc import Callable
from index.settings import FetchSettings

log = logging.getLogger(__name__)

# Fewer words than this and an entry is taken for a teaser of the linked page.
FULL_TEXT_MIN_WORDS = 80
# Feeds are often served as plain text (raw files on code hosts, misconfigured servers).
FEED_ACCEPT = transport.FEED_TYPES | {"text/plain"}
_WORD = re.compile(r"\w+")


@dataclasses.dataclass(frozen=True)
class FeedEntry:
    number: int
    title: str | None
    link: str | None
    author: str | None
    published: str | None
    content: str  # the entry's full text as plain text, "" when it has none
    summary: str
    guid: str | None = None  # the entry's own id, when it gives one

    @property
    def key(self) -> str:
        """What names this entry across reads of its feed: its link, else its id, else a
        hash of what it says (the poller remembers keys to never read an entry twice)."""
        if self.link:
            return self.link
        if self.guid:
            return f"id:{self.guid}"
        digest = hashlib.sha256(f"{self.title}\n{self.content or self.summary}".encode())
        return f"hash:{digest.hexdigest()[:32]}"


@dataclasses.dataclass
class FeedDocument:
    """A parsed feed: its title (the articles' source), its entries, and what was refused."""

    source: str | None = None
    entries: list[FeedEntry] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)

    @property
    def refused(self) -> bool:
        return not self.entries and bool(self.skipped)


def read_feed(
    url_or_path: str, fetch: FetchSettings, *, policy: AddressPolicy | None = None
) -> ReadResult:
    """Every entry of the feed as an article, at most fetch.max_feed_entries of them."""
    origin = url_or_path.strip()
    # One deadline for the whole read: the feed and every linked page fetched for it.
    deadline = time.monotonic() + fetch.feed_timeout_s
    try:
        data, base_url = _load(origin, within(fetch, deadline), policy)
    except InputError as exc:
        return ReadResult(skipped=[Skipped(origin, str(exc))])
    document = parse_entries(data, origin, fetch, base_url=base_url)
    result = ReadResult(skipped=list(document.skipped))
    for outcome in read_entries(document, origin, fetch, policy=policy, deadline=deadline):
        if isinstance(outcome, ArticleInput):
            result.articles.append(outcome)
        else:
            result.skipped.append(outcome)
    return result


def parse_entries(
    data: bytes, origin: str, fetch: FetchSettings, *, base_url: str = "",
    capped: bool = True,
) -> FeedDocument:
    """The entries of a feed document in hand (at most fetch.max_feed_entries when `capped`;
    a followed feed's poller takes them a few at a time instead); a document that is refused
    has no entries and says why in `skipped`."""
    headers = {"content-location": base_url} if base_url else {}
    problem = entity_problem(data, headers)
    if problem:
        return FeedDocument(skipped=[Skipped(origin, problem)])
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    except Exception as exc:  # feedparser reports most problems as "bozo"; this is the rest
        log.warning("feed parsing failed for %s", origin, exc_info=True)
        return FeedDocument(skipped=[Skipped(origin, f"the feed could not be parsed ({exc})")])
    broken = parsed.get("bozo_exception")
    if not parsed.entries:
        if parsed.get("bozo"):
            reason = f"not a valid RSS or Atom feed ({broken})"
        else:
            reason = "the feed has no entries"
        return FeedDocument(skipped=[Skipped(origin, reason)])
    if isinstance(broken, xml.sax.SAXException):
        # feedparser would go on with its lenient parser and make entries of the wreck (an
        # unexpanded "&lol9;" as a title): a feed that is not well-formed XML is refused whole.
        return FeedDocument(
            skipped=[Skipped(origin, f"the feed is not well-formed XML ({broken})")]
        )
    document = FeedDocument(source=clean_meta(parsed.feed.get("title")))
    total = len(parsed.entries)
    if capped and total > fetch.max_feed_entries:
        document.skipped.append(
            Skipped(
                origin,
                f"the feed has {total} entries; only the first "
                f"{fetch.max_feed_entries} were read (fetch.max_feed_entries)",
            )
        )
    kept = parsed.entries[: fetch.max_feed_entries] if capped else parsed.entries
    document.entries = [_entry(number, raw) for number, raw in enumerate(kept, 1)]
    return document


def read_entries(
    document: FeedDocument,
    origin: str,
    fetch: FetchSettings,
    *,
    entries: list[FeedEntry] | None = None,
    policy: AddressPolicy | None = None,
    deadline: float | None = None,
    fetch_page: Callable[..., ArticleInput] = fetch_url,
    parallel: bool = True,
) -> list[ArticleInput | Skipped]:
    """One article (or the reason there is none) per entry, in order: `entries` (default:
    all of the document's). A short entry's linked page is fetched with `fetch_page`, a few at
    a time when `parallel`, one after the other otherwise; none starts after `deadline`."""
    if deadline is None:
        deadline = time.monotonic() + fetch.feed_timeout_s
    chosen = document.entries if entries is None else entries

    def one(entry: FeedEntry) -> ArticleInput | Skipped:
        return _article(entry, origin, document.source, fetch, policy, deadline, fetch_page)

    if parallel:
        return map_in_threads(one, chosen)
    return [one(entry) for entry in chosen]


def within(fetch: FetchSettings, deadline: float) -> FetchSettings:
    """`fetch` with its time limit cut to what is left before `deadline` (InputError if none)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise InputError(
            f"the feed's time limit (fetch.feed_timeout_s = {fetch.feed_timeout_s:g} s) ran out"
        )
    return dataclasses.replace(fetch, timeout_s=min(fetch.timeout_s, left))


def _load(origin: str, fetch: FetchSettings, policy: AddressPolicy | None) -> tuple[bytes, str]:
    """The feed's bytes and the URL relative links resolve against ("" for a file)."""
    if _is_url(origin):
        page = transport.get(origin, fetch, accept=FEED_ACCEPT, policy=policy)
        return page.body, page.url
    path = Path(origin).expanduser()
    if not path.is_file():
        if path.exists():
            raise InputError("not a regular file")
        raise InputError("no such feed file (a feed URL starts with http:// or https://)")
    try:
        size = path.stat().st_size
        if size > fetch.max_file_bytes:
            raise InputError(f"the feed file is larger than {fetch.max_file_bytes:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"could not read the feed file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise InputError("the feed file is empty")
    return data, ""


def _is_url(text: str) -> bool:
    scheme = urlsplit(text).scheme
    # A one-letter "scheme" is a Windows drive ("C:\feeds\a.xml"), not a URL.
    return len(scheme) > 1 and (text.lower().startswith(scheme.lower() + "://"))


def _entry(number: int, raw: feedparser.FeedParserDict) -> FeedEntry:
    contents = [c.get("value", "") for c in raw.get("content") or []]
    content = max((html_fragment_text(c) for c in contents), key=len, default="")
    return FeedEntry(
        number=number,
        guid=clean_meta(raw.get("id")),
        title=clean_meta(raw.get("title")),
        link=http_url(raw.get("link")),
        author=clean_meta(raw.get("author")),
        published=_entry_date(raw),
        content=content.strip(),
        summary=html_fragment_text(raw.get("summary") or "").strip(),
    )


def _entry_date(raw: feedparser.FeedParserDict) -> str | None:
    for text_key, parsed_key in (("published", "published_parsed"), ("updated", "updated_parsed")):
        found = normalise_date(raw.get(text_key))
        if found:
            return found
        parsed = raw.get(parsed_key)  # feedparser's own reading, in UTC
        if parsed:
            return normalise_date(datetime(*parsed[:6], tzinfo=UTC))
    return None


def _article(
    entry: FeedEntry,
    feed: str,
    source: str | None,
    fetch: FetchSettings,
    policy: AddressPolicy | None,
    deadline: float,
    fetch_page: Callable[..., ArticleInput] = fetch_url,
) -> ArticleInput | Skipped:
    origin = entry.link or f"{feed} (entry {entry.number})"
    text = entry.content or entry.summary
    if entry.link and len(_WORD.findall(text)) < FULL_TEXT_MIN_WORDS:
        try:
            page = fetch_page(entry.link, within(fetch, deadline), policy=policy)
        except InputError as exc:
            if not entry.content:
                return Skipped(
                    origin,
                    f"the feed has only a short summary and the linked page failed: {exc}",
                )
        else:
            return dataclasses.replace(
                page,
                title=cap_title(entry.title) or page.title,
                url=page.url or entry.link,
                source=source or page.source,
                published=entry.published or page.published,
                author=entry.author or page.author,
                origin=origin,
            )
    try:
        return build_article(
            text,
            origin=origin,
            title=entry.title,
            url=entry.link,
            source=source,
            published=entry.published,
            author=entry.author,
        )
    except InputError as exc:
        return Skipped(origin, f"entry {entry.number}: {exc}")
