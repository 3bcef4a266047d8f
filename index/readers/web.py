"""Articles from web pages: one guarded fetch per URL, then HTML extraction (or plain text)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from index.errors import InputError
from index.models import ArticleInput, ReadResult, Skipped
from index.readers import transport
from index.readers.formats import parse_html, parse_text
from index.readers.netguard import AddressPolicy
from index.readers.normalize import canonical_url, http_url
from index.settings import FetchSettings

__all__ = ["canonical_url", "fetch_url", "read_urls"]

# A few pages at a time: fast enough for a feed, gentle enough for one site.
PARALLEL_FETCHES = 4

T = TypeVar("T")
R = TypeVar("R")


def fetch_url(
    url: str, fetch: FetchSettings, *, policy: AddressPolicy | None = None
) -> ArticleInput:
    """The article at `url`; raises FetchRefused (not allowed) or InputError (did not work).

    `policy` replaces the address check (tests use it to treat one loopback address as public).
    """
    page = transport.get(url, fetch, accept=transport.PAGE_TYPES, policy=policy)
    origin = url.strip()
    # The URL we actually read from, not the page's own canonical link (a page may claim any).
    page_url = http_url(page.url)
    if page.content_type == "text/plain":
        article = parse_text(_decode_text(page.body, page.charset), origin)
        return dataclasses.replace(article, url=page_url)
    return parse_html(_html_input(page.body, page.charset), origin, page_url=page_url)


def read_urls(
    urls: list[str], fetch: FetchSettings, *, policy: AddressPolicy | None = None
) -> ReadResult:
    """Articles from web pages; a page that cannot be read becomes a Skipped entry."""
    result = ReadResult()
    outcomes = map_in_threads(lambda u: _try_fetch(u, fetch, policy), urls)
    for url, outcome in zip(urls, outcomes, strict=True):
        if isinstance(outcome, ArticleInput):
            result.articles.append(outcome)
        else:
            result.skipped.append(Skipped(url, outcome))
    return result


def map_in_threads(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`func` over `items` on a few threads, results in input order."""
    items = list(items)
    if len(items) <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_FETCHES, len(items))) as pool:
        return list(pool.map(func, items))


def _try_fetch(url: str, fetch: FetchSettings, policy: AddressPolicy | None) -> ArticleInput | str:
    try:
        return fetch_url(url, fetch, policy=policy)
    except InputError as exc:
        return str(exc)


def _decode_text(body: bytes, charset: str | None) -> str:
    if b"\x00" in body:
        raise InputError("the page is binary, not text")
    try:
        return body.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return body.decode("utf-8", errors="replace")


def _html_input(body: bytes, charset: str | None) -> bytes | str:
    # The HTTP header's charset is the authority when it decodes cleanly; otherwise trafilatura
    # reads the bytes and looks for the page's own declaration.
    if charset:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return body
