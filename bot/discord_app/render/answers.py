"""The public answer embed: the lead with [n] markers and its numbered sources, or, for a
declined question, the closest articles."""

from __future__ import annotations

from collections.abc import Iterable

from bot.discord_app.render.sources import MAX_CLOSEST, citation_line, source_line
from bot.discord_app.render.spec import DESCRIPTION_LIMIT, FOOTER_LIMIT, TITLE_LIMIT, EmbedSpec
from bot.discord_app.render.text import (
    compose_lines,
    one_line,
    plain_text,
    safe_answer_text,
    safe_text,
    trim,
)
from bot.reader.answer import LLM_NOTE, NOT_FOUND, Answer, Retrieved

COLOR_ANSWERED = 0x2B8A3E
COLOR_DECLINED = 0x868E96

FOLLOW_UP_HINT = "Reply to this message to ask a follow-up."


def _closest(retrieved: Iterable[Retrieved], limit: int = MAX_CLOSEST) -> list[Retrieved]:
    seen: set[str] = set()
    out: list[Retrieved] = []
    for r in retrieved:
        if r.article_id in seen:
            continue
        seen.add(r.article_id)
        out.append(r)
        if len(out) >= limit:
            break
    return out


def answer_title(question: str) -> str:
    return trim(safe_text(one_line(question)) or "Question", TITLE_LIMIT)


def _body_with_list(lead: str, list_header: str, lines: list[str]) -> str:
    """lead + a list under a header, within the description limit; the list keeps priority up
    to half the space, the lead is trimmed at a sentence boundary to fit the rest."""
    if not lines:
        return trim(lead, DESCRIPTION_LIMIT)
    listing = compose_lines(list_header, lines, DESCRIPTION_LIMIT // 2)
    room = DESCRIPTION_LIMIT - len(listing) - 2
    if len(lead) < room:  # a short lead leaves the list more than half
        listing = compose_lines(list_header, lines, DESCRIPTION_LIMIT - len(lead) - 2)
        room = DESCRIPTION_LIMIT - len(listing) - 2
    return trim(lead, room) + "\n\n" + listing


def render_answer(answer: Answer, *, footer: str | None = FOLLOW_UP_HINT) -> EmbedSpec:
    """The public answer embed: lead with [n] markers, then numbered sources as links.

    Declined answers get the NOT_FOUND line and the closest articles instead.
    """
    if answer.answered:
        short, rest = answer.lead_parts()
        lead = safe_answer_text(rest.strip()) or safe_text(NOT_FOUND)
        if short:  # the short answer in Discord's bold, then the sentence that says it
            lead = f"**{safe_text(one_line(short))}** — {lead}"
        lines = [citation_line(c) for c in sorted(answer.citations, key=lambda c: c.n)]
        body = _body_with_list(lead, "**Sources**", lines)
        color = COLOR_ANSWERED
    else:
        lead = safe_text(answer.answer.strip() or NOT_FOUND)
        lines = [
            source_line("•", r.title, r.url, r.source, r.published)
            for r in _closest(answer.retrieved)
        ]
        body = _body_with_list(lead, "**Closest articles:**", lines)
        color = COLOR_DECLINED
    if answer.answered and answer.reader == "llm":
        footer = f"{LLM_NOTE} {footer}" if footer else LLM_NOTE
    foot = trim(plain_text(footer), FOOTER_LIMIT) if footer else None
    return EmbedSpec(
        title=answer_title(answer.question), description=body, color=color, footer=foot
    )
