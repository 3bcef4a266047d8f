"""How a source is shown: its one line (linked title, source, date, the other copies of its
story) and the quoted passages behind an answer, for the "Show sources" button."""

from __future__ import annotations

from dataclasses import dataclass

from bot.discord_app.render.spec import (
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    EmbedSpec,
)
from bot.discord_app.render.text import one_line, plain_text, safe_text, safe_url, split_safe, trim
from bot.reader.answer import Answer, Citation
from bot.reader.copies import also_reported_by
from bot.reader.dating import shown_date

COLOR_PASSAGE = 0x1971C2

SOURCE_TITLE_LIMIT = 200  # one source line's title, before the link
MAX_CLOSEST = 5
MAX_PASSAGE_MESSAGES = 5  # "Show sources" sends at most this many ephemeral messages


def _byline(source: str | None, published: str | None) -> str:
    """"source, 2025-03-03": every source shows its date ("date unknown" when none)."""
    bits = [b for b in (one_line(source or ""), one_line(shown_date(published))) if b]
    return ", ".join(bits)


def source_line(
    label: str, title: str, url: str | None, source: str | None, published: str | None
) -> str:
    """`label [title](url) — source, date`; plain title when there is no usable URL."""
    shown = safe_text(trim(one_line(title) or "Untitled article", SOURCE_TITLE_LIMIT))
    link = safe_url(url)
    text = f"[{shown}]({link})" if link else shown
    by = _byline(source, published)
    if by:
        text += " — " + safe_text(by)
    return f"{label} {text}" if label else text


def citation_line(c: Citation) -> str:
    """The source line; the other copies of its story follow, "also reported by: …"."""
    line = source_line(f"**[{c.n}]**", c.title, c.url, c.source, c.published)
    others = also_reported_by(c)
    if others:
        line += " · " + safe_text(trim(one_line(others), SOURCE_TITLE_LIMIT))
    return line


@dataclass(frozen=True)
class _Passage:
    n: int | None
    title: str
    url: str | None
    source: str | None
    published: str | None
    text: str


def _passages(answer: Answer) -> list[_Passage]:
    if answer.citations:
        return [
            _Passage(c.n, c.title, c.url, c.source, c.published, c.quote)
            for c in sorted(answer.citations, key=lambda c: c.n)
        ]
    return [
        _Passage(None, r.title, r.url, r.source, r.published, r.text)
        for r in answer.retrieved[:MAX_CLOSEST]
    ]


def render_passages(answer: Answer, *, chunk_limit: int = 3500) -> list[list[EmbedSpec]]:
    """The quoted passages behind an answer, for the "Show sources" button.

    One embed per passage (a long passage continues in further embeds, split between sentences),
    packed into messages of at most 10 embeds and 6,000 characters; at most
    MAX_PASSAGE_MESSAGES messages (the last one says what was left out).
    """
    embeds: list[EmbedSpec] = []
    for p in _passages(answer):
        label = f"[{p.n}] " if p.n is not None else ""
        title = one_line(p.title) or "Untitled article"
        chunks = split_safe(one_line(p.text), chunk_limit - 2) or [safe_text("(no text)")]
        by = _byline(p.source, p.published)
        for i, chunk in enumerate(chunks):
            suffix = " (continued)" if i else ""
            head = trim(label + safe_text(title), TITLE_LIMIT - len(suffix)) + suffix
            embeds.append(
                EmbedSpec(
                    title=head,
                    # only the first part links to the article: Discord shows just the first
                    # of several embeds with one URL, so a continuation with it is never seen
                    url=safe_url(p.url) if i == 0 else None,
                    description="> " + chunk,
                    color=COLOR_PASSAGE,
                    footer=trim(plain_text(by), FOOTER_LIMIT)
                    if by and i == len(chunks) - 1
                    else None,
                )
            )
    if not embeds:
        return [[EmbedSpec(description="There are no passages for this answer.")]]
    messages: list[list[EmbedSpec]] = []
    current: list[EmbedSpec] = []
    total = 0
    for e in embeds:
        size = e.total_length()
        if current and (len(current) >= EMBEDS_PER_MESSAGE or total + size > EMBED_TOTAL_LIMIT):
            messages.append(current)
            current, total = [], 0
        current.append(e)
        total += size
    if current:
        messages.append(current)
    if len(messages) > MAX_PASSAGE_MESSAGES:
        left = sum(len(m) for m in messages[MAX_PASSAGE_MESSAGES:])
        messages = messages[:MAX_PASSAGE_MESSAGES]
        last = messages[-1]
        note = EmbedSpec(description=f"…and {left} more passage parts not shown.")
        if (
            len(last) >= EMBEDS_PER_MESSAGE
            or sum(e.total_length() for e in last) + note.total_length() > EMBED_TOTAL_LIMIT
        ):
            last.pop()
        last.append(note)
    return messages
