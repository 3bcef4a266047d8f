"""Untrusted text made inert and short: markdown escaped, mentions neutralised, URLs checked,
long text cut at a sentence (else word) boundary, never inside a word."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote, urlsplit

ELLIPSIS = "…"
ZWSP = "\u200b"


_MASS_MENTION = re.compile(r"@(?=(?:everyone|here)\b)", re.IGNORECASE)
_ANGLE_MENTION = re.compile(r"<@(?=[!&]?\d)")
_MARKDOWN = re.compile(r"([\\*_~`|\[\]<])")
# block syntax only counts at the start of a line: headings, subtext, quotes, lists
_LINE_START = re.compile(r"^([ \t]*)(?:([#>+-])|(\d+)\.(?=\s))", re.MULTILINE)
_MARKER = re.compile(r"\\\[(\d{1,3})\\\]")
_WS = re.compile(r"\s+")


def neutralize_mentions(text: str) -> str:
    """Break @everyone, @here and <@id>/<@!id>/<@&id> with a zero-width space so they cannot ping.

    Defence in depth: the client also sends every message with AllowedMentions.none().
    """
    text = _MASS_MENTION.sub("@" + ZWSP, text)
    return _ANGLE_MENTION.sub("<@" + ZWSP, text)


def escape_markdown(text: str) -> str:
    """Backslash-escape what Discord reads as markdown: emphasis, code, spoilers, masked links,
    and headings/quotes/lists at a line start. `<` is escaped too, so article text cannot form
    <t:…> timestamps, <#…> channel links or custom emoji.
    """
    text = _MARKDOWN.sub(r"\\\1", text)
    return _LINE_START.sub(_escape_line_start, text)


def _escape_line_start(m: re.Match[str]) -> str:
    indent, mark, number = m.group(1), m.group(2), m.group(3)
    return f"{indent}\\{mark}" if mark else f"{indent}{number}\\."


def safe_text(text: str) -> str:
    """Untrusted text made inert: markdown escaped, mentions neutralised."""
    return neutralize_mentions(escape_markdown(text))


def plain_text(text: str) -> str:
    """For places Discord shows without markdown (footers, author names): one line, no pings."""
    return neutralize_mentions(one_line(text))


def safe_answer_text(text: str) -> str:
    """Like safe_text but keeps the answer's [n] citation markers readable."""
    out = _MARKER.sub(r"[\1]", escape_markdown(text))
    return neutralize_mentions(out.replace("](", "]\\("))


def one_line(text: str) -> str:
    return _WS.sub(" ", text).strip()


def safe_url(url: str | None) -> str | None:
    """An http(s) URL usable as a markdown link target or embed url; None for anything else."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # keep it one token that cannot close the markdown link early
    url = quote(url, safe="/:?#[]@!$&'*+,;=%~.-_")
    url = url.replace("(", "%28").replace(")", "%29")
    if len(url) > 2000:
        return None
    return url


# --------------------------------------------------------------------------- trimming

# a sentence end: punctuation, optional closing quotes/brackets, optional trailing [n] markers
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?:[ \t]*\[\d{1,3}\])*(?=\s|$)")


def trim(text: str, limit: int, *, min_sentence_fraction: float = 0.5) -> str:
    """`text` cut to at most `limit` characters.

    Prefers the last sentence end past `min_sentence_fraction` of the limit; else the last word
    boundary plus "…"; a single word longer than the limit is cut hard with "…".
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    best = -1
    for m in _SENTENCE_END.finditer(head):
        if m.end() <= limit:
            best = m.end()
    if best >= limit * min_sentence_fraction:
        return text[:best].rstrip()
    budget = limit - len(ELLIPSIS)
    if budget <= 0:
        return ELLIPSIS[:limit]
    cut = text[: budget + 1]
    space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
    if space > 0 and text[:space].strip():
        return text[:space].rstrip() + ELLIPSIS
    hard = text[:budget].rstrip("\\")  # do not leave a dangling markdown escape
    return hard + ELLIPSIS


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, split at sentence, else word, boundaries."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            pieces.append(rest)
            break
        head = trim(rest, limit, min_sentence_fraction=0.3)
        if head.endswith(ELLIPSIS) and not rest.startswith(head):
            head = head[: -len(ELLIPSIS)]  # a continuation follows; no "…" mid-flow
        if not head:
            head = rest[:limit]
        pieces.append(head.rstrip())
        rest = rest[len(head) :].strip()
    return pieces


def split_safe(text: str, limit: int, *, raw_limit: int | None = None) -> list[str]:
    """Untrusted `text` split between sentences (else words) first, then each piece made
    inert with safe_text, every piece at most `limit` characters once escaped.

    Splitting after escaping would let a piece begin with what was the middle of a line (a
    `#`, `>` or `-`), which Discord then reads as a heading, quote or list.
    """
    raw_limit = raw_limit or limit
    out: list[str] = []
    for piece in split_text(text, raw_limit):
        safe = safe_text(piece)
        if len(safe) <= limit:
            out.append(safe)
        elif raw_limit <= 8:  # pathological: nearly every character escaped
            out.append(trim(safe, limit))
        else:  # escaping made it longer: split this piece finer
            finer = max(8, raw_limit * limit // len(safe) - 1)
            out += split_safe(piece, limit, raw_limit=finer)
    return out


def compose_lines(
    header: str, lines: Sequence[str], limit: int, *, more: str = "…and {n} more"
) -> str:
    """header + as many whole lines as fit in `limit`, then "…and N more" for the rest."""
    out = header
    for i, line in enumerate(lines):
        rest = len(lines) - i
        tail = "\n" + more.format(n=rest - 1) if rest > 1 else ""
        candidate = (out + "\n" if out else "") + line
        if len(candidate) + len(tail) <= limit or (rest == 1 and len(candidate) <= limit):
            out = candidate
            continue
        tail = more.format(n=rest)
        return trim((out + "\n" if out else "") + tail, limit)
    return trim(out, limit)


def retry_phrase(seconds: float) -> str:
    s = max(1, int(seconds + 0.999))
    return f"{s} s"
