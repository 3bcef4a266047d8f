"""Parsing one document's content into articles: plain text and Markdown (with front matter),
HTML pages (trafilatura), HTML fragments, JSON and JSON Lines records.

Nothing here touches the file system or the network; files.py and web.py hand over the bytes.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import lxml.etree
import lxml.html

from index.errors import InputError
from index.models import ArticleInput, ReadResult, Skipped
from index.readers.boilerplate import clean_text, looks_like_headline
from index.readers.records import build_article

if TYPE_CHECKING:
    from trafilatura.settings import Document

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
JSON_SUFFIXES = (".json", ".jsonl")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + JSON_SUFFIXES

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\n(?P<body>.{0,8000}?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL
)
_FRONT_LINE = re.compile(r"^(?P<key>[A-Za-z_][\w-]*)\s*:\s*(?P<value>.*)$")
_FRONT_KEYS = {
    "title": "title", "headline": "title",
    "url": "url", "link": "url", "canonical_url": "url",
    "source": "source", "site": "source", "publisher": "source", "sitename": "source",
    "published": "published", "date": "published", "published_at": "published",
    "pubdate": "published",
    "author": "author", "authors": "author", "byline": "author",
}
_RECORD_TEXT_KEYS = ("text", "body", "content")
_RECORD_KEYS = {
    "title": ("title", "headline"),
    "url": ("url", "link"),
    "source": ("source", "site", "publisher"),
    "published": ("published", "date", "published_at", "publishedAt", "pubDate"),
    "author": ("author", "authors", "byline"),
}
_BLANK_LINES = re.compile(r"\n\s*\n+")
_LOOKS_LIKE_HTML = re.compile(r"<(?:p|br|div|li|h[1-6])\b[^>]*>", re.IGNORECASE)

_MD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^```.*$|^~~~.*$", re.M), ""),  # code fences (the code itself stays)
    (re.compile(r"^\s{0,3}(?:[-*_]\s*){3,}$", re.M), ""),  # horizontal rules
    (re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M), r"\1"),  # headings
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),  # block quotes
    (re.compile(r"^\s*[-*+]\s+", re.M), ""),  # bullets
    (re.compile(r"!\[[^\]]*\]\([^)]*\)"), ""),  # images
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links keep their words
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # bold
]

_BLOCK_TAGS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 blockquote tr table section article header footer "
    "pre figure figcaption hr dd dt dl aside main".split()
)


def decode_text(data: bytes) -> str:
    """Text from UTF-8 (or UTF-16 with a byte order mark); InputError for anything binary."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError("the file is not valid UTF-16 text") from exc
    if b"\x00" in data:
        raise InputError("the file is binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the file is not UTF-8 text (undecodable byte at offset {exc.start})"
        ) from exc


def parse_text(text: str, origin: str, *, markdown: bool = False) -> ArticleInput:
    """A plain-text or Markdown article, with optional `---` front matter."""
    meta, text = split_front_matter(text)
    if markdown:
        text = markdown_to_text(text)
    cleaned = clean_text(text)
    if cleaned and not meta.get("title"):
        # Furniture first: an "Advertisement" first line must not become the title.
        meta["title"], text = split_title(cleaned)
    return build_article(text, origin=origin, **meta)


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Known `key: value` pairs from a leading `---` block, and the text after it."""
    text = text.lstrip("\ufeff")
    match = _FRONT_MATTER.match(text.replace("\r\n", "\n"))
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    pairs = 0
    for line in match.group("body").split("\n"):
        found = _FRONT_LINE.match(line.strip())
        if not found:
            continue
        pairs += 1
        field = _FRONT_KEYS.get(found.group("key").lower())
        value = _unquote(found.group("value").strip())
        if field and value and field not in meta:
            meta[field] = value
    if not pairs:
        return {}, text  # a Markdown rule, not front matter
    return meta, text.replace("\r\n", "\n")[match.end() :]


def split_title(text: str) -> tuple[str | None, str]:
    """(first line, rest) when the first line reads like a headline, else (None, text)."""
    first, _, rest = text.strip().partition("\n")
    if rest.strip() and looks_like_headline(first):
        return first.strip(), rest
    return None, text


def markdown_to_text(text: str) -> str:
    for pattern, replacement in _MD_RULES:
        text = pattern.sub(replacement, text)
    return text


def parse_html(data: bytes | str, origin: str, *, page_url: str | None = None) -> ArticleInput:
    """The main text and metadata of an HTML page.

    `page_url` is where the page was fetched from; it wins over the page's own canonical link,
    which any page can set to any address.
    """
    try:
        doc = _extract(data, page_url)
    except RecursionError as exc:
        raise InputError("the HTML is nested too deeply to read") from exc
    except Exception as exc:
        # Pages come from strangers: a parser failure is this page's problem, not the caller's.
        log.warning("HTML extraction failed for %s", origin, exc_info=True)
        raise InputError(f"the HTML could not be parsed ({type(exc).__name__})") from exc
    if doc is None or not (doc.text or "").strip():
        raise InputError("no article text was found in the HTML")
    return build_article(
        doc.text,
        origin=origin,
        title=doc.title,
        url=page_url or doc.url,
        source=doc.sitename,
        published=doc.date,
        author=doc.author,
    )


def _extract(data: bytes | str, page_url: str | None) -> Document | None:
    # Imported when a page is read (0.1 s): a question, or a file of text, never needs it.
    import trafilatura

    return trafilatura.bare_extraction(  # type: ignore[return-value]
        data,
        url=page_url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        # No date guessed from stray numbers in the text: only dates the page declares.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )


def html_fragment_text(markup: str) -> str:
    """Readable text of an HTML fragment (a feed entry, a JSON field), one line per block."""
    if not markup.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return markup
    for node in root.xpath("//script|//style|//noscript|//iframe|//template"):
        node.drop_tree()
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag.lower() in _BLOCK_TAGS:
            node.text = "\n" + (node.text or "")
            node.tail = "\n" + (node.tail or "")
    # One block per line, as trafilatura writes page text.
    return _BLANK_LINES.sub("\n", root.text_content()).strip()


def parse_json(text: str, origin: str) -> ReadResult:
    """One article object, a list of them, or an object with an "articles" list."""
    result = ReadResult()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        result.skipped.append(
            Skipped(origin, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        )
        return result
    except RecursionError:
        result.skipped.append(Skipped(origin, "invalid JSON: nested too deeply"))
        return result
    if isinstance(data, dict) and not _has_text_key(data):
        # A search API's envelope: {"status": ..., "articles": [...]}
        data = data.get("articles", data) if isinstance(data.get("articles"), list) else data
    if isinstance(data, dict):
        _add_record(data, origin, "", result)
    elif isinstance(data, list):
        for number, record in enumerate(data, 1):
            _add_record(record, origin, f"item {number}", result)
    else:
        result.skipped.append(
            Skipped(origin, "the JSON must be an article object or a list of article objects")
        )
    return result


def parse_jsonl_bytes(data: bytes, origin: str) -> ReadResult:
    """JSON Lines from raw bytes, each line decoded on its own: a line holding a NUL byte or
    bytes that are not UTF-8 is reported by its number and the others still count."""
    result = ReadResult()
    data = data.removeprefix(codecs.BOM_UTF8)
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        if b"\x00" in raw:
            result.skipped.append(Skipped(origin, f"line {number}: holds a NUL byte (binary data)"))
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f"undecodable byte at column {exc.start + 1}"
            result.skipped.append(Skipped(origin, f"line {number}: not UTF-8 text ({where})"))
            continue
        _parse_jsonl_line(line, number, origin, result)
    return result


def parse_jsonl(text: str, origin: str) -> ReadResult:
    """One article object per line; a bad line is skipped and the others still count."""
    result = ReadResult()
    for number, line in enumerate(text.split("\n"), 1):
        _parse_jsonl_line(line, number, origin, result)
    return result


def _parse_jsonl_line(line: str, number: int, origin: str, result: ReadResult) -> None:
    if not line.strip():
        return
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        problem = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        result.skipped.append(Skipped(origin, f"line {number}: invalid JSON ({problem})"))
        return
    _add_record(record, origin, f"line {number}", result)


def _add_record(record: object, origin: str, where: str, result: ReadResult) -> None:
    prefix = f"{where}: " if where else ""
    if not isinstance(record, dict):
        result.skipped.append(
            Skipped(origin, f"{prefix}expected an article object, found {_json_kind(record)}")
        )
        return
    text = _record_text(record)
    if not text:
        keys = ", ".join(f"'{k}'" for k in _RECORD_TEXT_KEYS)
        result.skipped.append(
            Skipped(origin, f"{prefix}the record has no text (expected one of {keys})")
        )
        return
    fields = {name: _first(record, keys) for name, keys in _RECORD_KEYS.items()}
    try:
        article = build_article(
            text, origin=f"{origin} ({where})" if where else origin, **fields
        )
    except InputError as exc:
        result.skipped.append(Skipped(origin, f"{prefix}{exc}"))
        return
    result.articles.append(article)


def _record_text(record: dict) -> str | None:
    for key in _RECORD_TEXT_KEYS:
        value = record.get(key)
        if isinstance(value, list):
            value = "\n".join(v for v in value if isinstance(v, str))
        if isinstance(value, str) and value.strip():
            return html_fragment_text(value) if _LOOKS_LIKE_HTML.search(value) else value
    return None


def _has_text_key(record: dict) -> bool:
    return any(key in record for key in _RECORD_TEXT_KEYS)


def _first(record: dict, keys: Iterable[str]) -> object:
    for key in keys:
        if record.get(key) not in (None, "", []):
            return record[key]
    return None


def _json_kind(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value
