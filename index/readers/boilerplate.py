"""Removing page furniture from article text: related-story lists, ads, newsletter, share and
cookie lines, credit lines, bylines and attributions, time stamps and game promotions; and
normalising white space while keeping the article's line breaks.

The rules are deliberately narrow: a line goes only when it is short and matches a known shape,
so a real paragraph that merely mentions cookies or newsletters is kept.
"""

from __future__ import annotations

import re
import unicodedata

# Headings that introduce a list of links to other stories.
_LIST_HEADING = re.compile(
    r"^(?:(?:read|see)\s+(?:also|more)|also\s+(?:read|see)|related(?:\s+(?:articles?|stories|"
    r"news|posts|content|coverage|links|reading|topics))?|more\s+(?:stories|news|on\s+this"
    r"(?:\s+story)?|from\s+[\w .&'’-]{1,40})|(?:you\s+(?:may|might)\s+also\s+like)|"
    r"recommended(?:\s+(?:stories|articles|for\s+you|reading))?|trending(?:\s+(?:now|news|"
    r"stories))?|most\s+(?:read|popular|viewed)|top\s+stories|editor[’']?s\s+picks?|"
    r"don[’']?t\s+miss|must\s+read|latest\s+(?:news|stories)|further\s+reading)"
    r"\s*[:\-–—|»>]*$",
    re.IGNORECASE,
)
# The same labels in front of one headline on the same line: "READ ALSO: Markets fall".
_INLINE_LINK = re.compile(
    r"^(?:(?:read|see)\s+(?:also|more)|also\s+(?:read|see)|related(?:\s+(?:article|story))?|"
    r"recommended|don[’']?t\s+miss|must\s+read)\s*[:\-–—|»>]+\s*(?P<rest>.+)$",
    re.IGNORECASE,
)

# Whole lines that are never article text (compared lower-case, outer punctuation removed).
_LABELS = frozenset(
    {
        "advertisement", "advertisements", "advert", "ad", "sponsored", "sponsored content",
        "paid content", "promoted content", "story continues below advertisement",
        "article continues below advertisement", "article continues below",
        "story continues below", "continue reading below", "scroll to continue",
        "scroll to continue with content", "continue reading", "skip to content",
        "skip to main content", "back to top", "loading", "show comments", "hide comments",
        "view comments", "comments", "toggle caption", "hide caption", "enlarge this image",
        "subscribe", "subscribe now", "sign up", "sign in", "log in", "register",
        "print", "print this article", "listen to this article", "copy link", "link copied",
        "all rights reserved", "close", "menu", "search",
        # a byline's role line, under the writer's name
        "opinion contributor", "opinion columnist", "guest columnist", "columnist",
        "staff writer", "contributing writer",
    }
)
_NEWSLETTER = re.compile(
    r"^(?:subscribe|sign\s+up|join|get|receive|never\s+miss)\b.{0,140}\b(?:newsletters?|"
    r"(?:your|our)\s+inbox|mailing\s+list|our\s+(?:[\w-]+\s+){0,3}(?:alerts|updates|emails))\b",
    re.IGNORECASE,
)
_COOKIES = re.compile(
    r"^(?:we\s+use|we\s+and\s+our\s+partners|this\s+(?:web\s*)?site\s+uses|our\s+(?:web\s*)?"
    r"site\s+uses|by\s+(?:continuing|using)|(?:accept|reject|manage)(?:\s+all)?)\b.{0,240}"
    r"\bcookies?\b",
    re.IGNORECASE,
)
_FOLLOW = re.compile(
    r"^(?:follow|like|join)\s+(?:us|[\w .&'’-]{1,40})\s+on\s+(?:facebook|twitter|x|instagram|"
    r"linkedin|telegram|whatsapp|youtube|tiktok|threads|bluesky|google\s+news)\b",
    re.IGNORECASE,
)
_COPYRIGHT = re.compile(
    r"^(?:©|\(c\)\s*\d{4}|copyright\s*(?:©|\(c\)|\d{4}))|\ball rights reserved\b", re.IGNORECASE
)
# Capitalised words (and the particles of names), joined by spaces, commas, "and" or dashes:
# a list of names, places and outlets ("John Roe and Jane Doe, Courier Journal").
_CAPITALISED = r"[A-Z][\w’'”.-]*"
_NAME_WORD = rf"(?:{_CAPITALISED}|de|del|da|van|von|der|la|le|du|bin|al)"
_NAMES = rf"{_CAPITALISED}(?:(?:\s+|,\s*|\s+and\s+|\s*[—–]\s*){_NAME_WORD})*"
# Credit lines ("Contributing: Reuters", "Reporting by ...; Editing by ...", "Jane Doe
# contributed to this report", "From staff and wire reports") and a bare
# "Updated Dec. 2, 2025, 4:04 p.m. ET" stamp: bylines and dates are the article's metadata.
_CREDIT = re.compile(
    r"^(?i:contributing|contributors?)\s*:|"
    r"^\(?(?i:(?:additional\s+)?reporting|writing|editing)\s+by\s+[A-Z][\w’'-]+\s+[A-Z]|"
    r"^(?i:(?:from\s+)?(?:[\w.&’'-]+\s+){0,5}(?:and|&)\s+wire\s+reports)$|"
    rf"^[—–]?\s*{_NAMES}\s+contributed\s+(?:to\s+(?:this|the)\s+report|reporting)\.?$"
)
MAX_CREDIT_WORDS = 80  # "(Reporting by ...; Additional reporting by ...; Editing by ...)"
# A live blog's attribution under each entry, or a reader letter's signature: "— Jane Doe",
# "— John Roe and Jane Doe, Courier Journal", "— Jane Doe, Lenoir, North Carolina".
_ATTRIBUTION = re.compile(rf"^[—–]\s*{_NAMES}$")
# Promotions for the site's own games: "Need a break? Play the USA TODAY Daily Crossword Puzzle."
_PROMO = re.compile(
    r"^(?:need\s+a\s+break\?\s*)?play\s+(?:the\s+|our\s+|today[’']s\s+)?(?:[\w.&’'-]+\s+){0,5}"
    r"(?:crossword|puzzles?|sudoku|wordle|games?)(?:\s+puzzle)?[.!]?$",
    re.IGNORECASE,
)
_STAMP = re.compile(
    r"^(?:updated|published|posted)(?:\s+on)?\s*:?\s+[a-z]{3,9}\.?\s+\d{1,2},?\s+\d{4}"
    r"(?:,?\s+(?:at\s+)?\d{1,2}:\d\d\s*(?:[ap]\.?m\.?)?(?:\s+[a-z]{2,4})?)?$",
    re.IGNORECASE,
)
# A label some sites put in front of a summary paragraph: the label goes, the text stays.
_LEADING_LABEL = re.compile(r"^AI-assisted summary\s*[:\-–—]?\s*", re.IGNORECASE)
_SHARE_WORDS = frozenset(
    {
        "share", "shares", "shared", "tweet", "email", "e-mail", "print", "copy", "link", "this",
        "article", "story", "page", "on", "via", "to", "the", "click", "opens", "in", "new",
        "window", "facebook", "twitter", "x", "whatsapp", "linkedin", "reddit", "telegram",
        "pinterest", "messenger", "flipboard", "bluesky", "threads", "mail", "sms", "pocket",
        "save", "comment", "comments",
    }
)
_SHARE_ANCHORS = frozenset({"share", "tweet", "facebook", "twitter", "whatsapp", "linkedin"})

_SENTENCE_END = tuple('.!?…"”\'’»:;,-–—')
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_INLINE_SPACE = re.compile(r"[ \t\f\v]+")
_BULLET = re.compile(r"^(?:[-*•·▪►»>]|\d{1,2}[.)])\s+")
_WORD = re.compile(r"[\w’'-]+")
_MAX_LIST_ITEMS = 15


def clean_text(text: str) -> str:
    """The article text without boilerplate lines; one blank line at most between paragraphs."""
    lines = _normalise_lines(text)
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _LIST_HEADING.match(line):
            i = _skip_link_list(lines, i + 1)
            continue
        if line and _LEADING_LABEL.match(line):
            line = _LEADING_LABEL.sub("", line)
            if not line:
                i += 1
                continue
        if not line or not _is_furniture(line):
            kept.append(line)
        i += 1
    return _join(kept)


def looks_like_headline(line: str) -> bool:
    """Short, with letters, and not ending like a sentence: how titles and link lists look."""
    line = line.strip()
    if not line or len(line) > 150 or len(_WORD.findall(line)) > 25:
        return False
    if not any(c.isalpha() for c in line):
        return False
    return not line.endswith(_SENTENCE_END)


def _normalise_lines(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for raw in text.split("\n"):
        # Unicode spaces (no-break, thin, ideographic) become plain ones.
        line = "".join(" " if c != "\t" and c.isspace() else c for c in raw)
        lines.append(_INLINE_SPACE.sub(" ", line).strip())
    return lines


def _skip_link_list(lines: list[str], start: int) -> int:
    """Index of the first line after the headlines that follow a "Related:" style heading."""
    i = start
    items = 0
    while i < len(lines) and items < _MAX_LIST_ITEMS:
        line = _BULLET.sub("", lines[i])
        if not line:
            i += 1
            continue
        if not looks_like_headline(line):
            break
        items += 1
        i += 1
    return i


def _is_furniture(line: str) -> bool:
    words = _WORD.findall(line)
    if len(words) <= MAX_CREDIT_WORDS and line.endswith(")") and _CREDIT.match(line):
        return True  # a parenthesised credit, which Reuters writes out in full
    if len(words) > 40:
        return False  # a paragraph, whatever it mentions
    label = line.lower().strip(" \t:;,.!|-–—•·*#»«>()[]")
    if label in _LABELS:
        return True
    inline = _INLINE_LINK.match(line)
    if inline and looks_like_headline(_BULLET.sub("", inline.group("rest"))):
        return True
    if _COPYRIGHT.search(line) and len(words) <= 25:
        return True
    if len(words) <= 25 and (_NEWSLETTER.match(line) or _FOLLOW.match(line)):
        return True
    if _COOKIES.match(line):
        return True
    if len(words) <= 30 and (_CREDIT.match(line) or _STAMP.match(line)):
        return True
    if len(words) <= 15 and _PROMO.match(line):
        return True
    if len(words) <= 20 and _ATTRIBUTION.match(line):
        return True
    lowered = {w.lower() for w in words}
    return bool(lowered) and lowered <= _SHARE_WORDS and bool(lowered & _SHARE_ANCHORS)


def _join(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue  # no leading blank lines, no runs of blank lines
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
