"""PostgreSQL connection strings as libpq reads them, and as messages may show them.

libpq takes a URL (`postgresql://user:secret@host/db?password=secret`) or a key/value string
(`host=db user=bot password=secret dbname=news`); psycopg's conninfo functions (libpq's own
parser) read both, so the store accepts both, and `redact` hides every password they can
carry: the URL's user info, a `password=` query parameter, a key/value `password=` (and the
other settings libpq itself hides, such as sslpassword). A string libpq cannot read is never
shown, since where its password is cannot be known.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import quote, unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

MASK = "***"
UNREADABLE = "(a connection string libpq cannot read; not shown, it may hold a password)"
_URL = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]*)"')


@functools.cache
def _secret() -> frozenset[str]:
    """The options whose value is a secret: those libpq marks as passwords to hide ('*'),
    and the SCRAM keys, which are passwords by another name."""
    every = psycopg.pq.Conninfo.get_defaults()
    secret = {o.keyword.decode() for o in every if o.dispchar == b"*"}
    secret |= {o.keyword.decode() for o in every if o.keyword.startswith(b"scram_")}
    return frozenset(secret)


def is_url(text: str) -> bool:
    return _URL.match(text.strip()) is not None


def parse(text: str) -> dict[str, str]:
    """The settings of connection string `text` as libpq reads it; ValueError, with a reason
    that quotes no value of it, when libpq cannot read it or it names nothing."""
    if "\x00" in text:  # libpq would read up to it, and what followed would go unseen
        raise ValueError("it holds a NUL character")
    try:
        settings = conninfo_to_dict(text)
    except psycopg.Error as exc:
        raise ValueError(_without_values(str(exc).strip().splitlines()[0])) from None
    except UnicodeError:
        raise ValueError("it is not valid UTF-8 text") from None
    if not settings:
        raise ValueError("it is empty")
    return {k: str(v) for k, v in settings.items()}


def problem(text: str) -> str | None:
    """Why `text` is not a PostgreSQL connection string libpq reads, or None."""
    try:
        parse(text)
    except ValueError as exc:
        return str(exc)
    return None


def redact(text: str) -> str:
    """`text` with every password in it replaced by ***, in the form it was given."""
    try:
        settings = parse(text)
    except ValueError:
        return UNREADABLE
    shown = _redact_url(text) if is_url(text) else text
    secrets = [v for k, v in settings.items() if k in _secret() and v]
    if any(s in shown or quote(s, safe="") in shown for s in secrets):
        # A key/value string, or a URL written some way the reading above does not hide:
        # libpq's own reading, every secret masked, is what is shown.
        masked = {k: (MASK if k in _secret() and v else v) for k, v in settings.items()}
        return make_conninfo(**masked)
    return shown


def _redact_url(url: str) -> str:
    """A URL with the password of its user info and of its query hidden."""
    scheme, _, rest = url.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        user, _, password = userinfo.partition(":")
        netloc = f"{user}:{MASK if password else ''}@{hosts}"
    path, question, query = tail.partition("?")
    query, hash_, fragment = query.partition("#")
    secret = _secret()
    params = []
    for item in query.split("&") if question else []:
        key, _, value = item.partition("=")
        params.append(f"{key}={MASK}" if unquote(key).strip() in secret and value else item)
    return f"{scheme}://{netloc}{path}{question}{'&'.join(params)}{hash_}{fragment}"


def _without_values(reason: str) -> str:
    """libpq's reason with what it quotes from the string left out, unless it is the name of
    an option libpq does not know (a typo worth showing; any other quote may be a value)."""
    names_a_key = reason.startswith(("invalid connection option", "invalid URI query parameter"))
    if names_a_key:
        return reason
    return _QUOTED.sub(lambda m: m.group(0) if m.group(1) == "=" else '"…"', reason)
