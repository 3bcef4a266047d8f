"""Normal forms for article metadata: publication dates, canonical URLs, plain metadata strings.

Every function here returns None (or the input) rather than guessing: a date with no day, a
day/month order that could go either way, or a URL without a scheme stays unknown.
"""

from __future__ import annotations

import email.utils
import re
from datetime import date, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dateutil import parser as date_parser

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_DMY_OR_MDY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_SPACE = re.compile(r"\s+")
# NUL and the other C0 control characters that are not white space: never article text (a JSON
# "\\u0000" decodes to a NUL), and NUL ends strings in some of the tools that read them.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
# A lone UTF-16 surrogate: what json.loads makes of "\\ud800", and how Python spells a byte of
# a file name that is not UTF-8. SQLite cannot store it.
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Query parameters that only say how a reader arrived, never which page they read.
_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "ocid", "cmpid", "ncid", "ito", "soc_src",
        "soc_trk", "spm", "share_id", "smid", "cid_source",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_", "oly_")
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Two far-apart defaults: a field that comes out differently under each was not in the text.
_DEFAULT_A = datetime(1901, 1, 1, 0, 0, 0)
_DEFAULT_B = datetime(1902, 2, 2, 1, 1, 1)


def scrub(text: str) -> str:
    """`text` without control characters, its lone surrogates as U+FFFD: storable text."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", text))


def display_name(name: str) -> str:
    """A file name as printable, storable text: bytes that are not UTF-8 (which Python keeps as
    surrogates) are written as \\xNN escapes, so the name still says which file it was."""
    if not _SURROGATE.search(name):
        return name
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return scrub(name)


def clean_meta(value: object) -> str | None:
    """A metadata value as one trimmed line; lists of names are joined, empty means None."""
    if value is None:
        return None
    if isinstance(value, dict):
        # e.g. NewsAPI's {"id": ..., "name": "Reuters"}
        return clean_meta(value.get("name") or value.get("title"))
    if isinstance(value, list | tuple):
        parts = [p for p in (clean_meta(v) for v in value) if p]
        return ", ".join(dict.fromkeys(parts)) or None
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", scrub(value)).strip()
    return text or None


def normalise_date(value: object) -> str | None:
    """`YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM:SS[+HH:MM]` when a time is given; None if unsure."""
    if isinstance(value, datetime):
        return _format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    text = clean_meta(value)
    if not text or len(text) > 100:
        return None
    for parse in (_parse_numeric, _parse_iso, _parse_rfc822, _parse_words):
        try:
            result = parse(text)
        except (ValueError, OverflowError, TypeError):
            continue
        if result is not None:
            return result
    return None


def _parse_numeric(text: str) -> str | None:
    match = _ISO_DATE.match(text) or _YMD.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
        return date(year, month, day).isoformat()
    match = _DMY_OR_MDY.match(text)
    if match:
        first, second, year = (int(g) for g in match.groups())
        if first <= 12 and second <= 12 and first != second:
            return None  # 03/04/2025: April 3rd or March 4th, nobody can tell
        day, month = (first, second) if first > 12 else (second, first)
        return date(year, month, day).isoformat()
    return None


def _parse_iso(text: str) -> str | None:
    if not re.match(r"^\d{4}-?\d{2}-?\d{2}[T ]\d", text):
        return None
    return _format_datetime(datetime.fromisoformat(text))


def _parse_rfc822(text: str) -> str | None:
    # "Fri, 03 Jan 2025 10:00:00 +0000", the date form of RSS
    if not re.match(r"^([A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d", text):
        return None
    return _format_datetime(email.utils.parsedate_to_datetime(text))


def _parse_words(text: str) -> str | None:
    # "January 3, 2025", "3 Jan 2025 10:00 GMT": only when day, month and year are all written.
    if not re.search(r"[A-Za-z]{3}", text) or not re.search(r"\d{4}", text):
        return None
    a = date_parser.parse(text, default=_DEFAULT_A)
    b = date_parser.parse(text, default=_DEFAULT_B)
    if a.date() != b.date():
        return None
    if (a.hour, a.minute) != (b.hour, b.minute):
        return a.date().isoformat()
    return _format_datetime(a)


def _format_datetime(value: datetime) -> str:
    value = value.replace(microsecond=0)
    if value.tzinfo is not None and value.utcoffset() is None:
        value = value.replace(tzinfo=None)
    return value.isoformat()


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; anything else comes back trimmed but unchanged.

    Lower-case scheme and host, no default port, no user info, no fragment, no tracking
    parameters (utm_*, fbclid, gclid, ...); the remaining parameters keep their order.
    courlan.normalize_url was considered: it keeps fragments and its tracker pattern also drops
    parameters that do pick the page (anything containing "source", "ref", "id" after "_", ...).
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        host = parts.hostname
        port = parts.port
    except ValueError:
        return text
    if scheme not in _DEFAULT_PORTS or not host:
        return text
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return text
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not _is_tracking(k)]
    # Re-encode only when something was dropped, so an untouched query keeps its exact spelling.
    query = parts.query if len(kept) == len(pairs) else urlencode(kept, safe="/:@,")
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key in _TRACKING_EXACT or key.startswith(_TRACKING_PREFIXES)


def http_url(value: object) -> str | None:
    """The canonical URL when `value` is an absolute http(s) URL, else None."""
    text = clean_meta(value)
    if not text or " " in text:
        return None
    url = canonical_url(text)
    return url if url.startswith(("http://", "https://")) else None
