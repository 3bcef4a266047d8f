"""Turn answers and reports into Discord-sized text. Pure: no discord import.

Everything here returns plain strings or `EmbedSpec` records that fit Discord's limits; the cogs
turn a spec into a `discord.Embed` (see `bot.discord_app.embeds`). Text that comes from articles
or users is markdown-escaped and has its mentions neutralised before it is measured, and long
text is cut at a sentence boundary, else a word boundary with "…", never inside a word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from bot.reader.answer import LLM_NOTE, NOT_FOUND, Answer, Citation, Retrieved
from bot.reader.copies import also_reported_by
from bot.reader.dating import shown_date

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELD_COUNT_LIMIT = 25
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000  # per message: the sum over all its embeds
EMBEDS_PER_MESSAGE = 10

ELLIPSIS = "…"
ZWSP = "\u200b"

COLOR_ANSWERED = 0x2B8A3E
COLOR_DECLINED = 0x868E96
COLOR_PASSAGE = 0x1971C2
COLOR_INFO = 0x5865F2

SOURCE_TITLE_LIMIT = 200  # one source line's title, before the link
MAX_CLOSEST = 5
MAX_PASSAGE_MESSAGES = 5  # "Show sources" sends at most this many ephemeral messages
FOLLOW_UP_HINT = "Reply to this message to ask a follow-up."


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class FieldSpec:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class EmbedSpec:
    title: str | None = None
    description: str | None = None
    url: str | None = None
    color: int | None = None
    footer: str | None = None
    fields: tuple[FieldSpec, ...] = ()

    def total_length(self) -> int:
        """What Discord counts toward the 6,000 characters of a message's embeds."""
        n = len(self.title or "") + len(self.description or "") + len(self.footer or "")
        return n + sum(len(f.name) + len(f.value) for f in self.fields)

    def problems(self) -> list[str]:
        """Every Discord limit this embed breaks (empty when it is fine to send)."""
        out = []
        if self.title is not None and len(self.title) > TITLE_LIMIT:
            out.append(f"title {len(self.title)} > {TITLE_LIMIT}")
        if self.description is not None and len(self.description) > DESCRIPTION_LIMIT:
            out.append(f"description {len(self.description)} > {DESCRIPTION_LIMIT}")
        if self.footer is not None and len(self.footer) > FOOTER_LIMIT:
            out.append(f"footer {len(self.footer)} > {FOOTER_LIMIT}")
        if len(self.fields) > FIELD_COUNT_LIMIT:
            out.append(f"{len(self.fields)} fields > {FIELD_COUNT_LIMIT}")
        for f in self.fields:
            if not f.name or len(f.name) > FIELD_NAME_LIMIT:
                out.append(f"field name length {len(f.name)}")
            if not f.value or len(f.value) > FIELD_VALUE_LIMIT:
                out.append(f"field value length {len(f.value)}")
        if self.total_length() > EMBED_TOTAL_LIMIT:
            out.append(f"total {self.total_length()} > {EMBED_TOTAL_LIMIT}")
        return out


def message_problems(embeds: Sequence[EmbedSpec], content: str | None = None) -> list[str]:
    """Every limit one message (content plus embeds) breaks."""
    out = [p for e in embeds for p in e.problems()]
    if len(embeds) > EMBEDS_PER_MESSAGE:
        out.append(f"{len(embeds)} embeds > {EMBEDS_PER_MESSAGE}")
    total = sum(e.total_length() for e in embeds)
    if total > EMBED_TOTAL_LIMIT:
        out.append(f"embeds total {total} > {EMBED_TOTAL_LIMIT}")
    if content is not None and len(content) > CONTENT_LIMIT:
        out.append(f"content {len(content)} > {CONTENT_LIMIT}")
    return out


# --------------------------------------------------------------------------- text safety

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


# --------------------------------------------------------------------------- answers


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


# --------------------------------------------------------------------------- admin replies


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _article_line(a) -> str:  # index.models.Article (duck-typed to keep this module light)
    title = getattr(a, "display_title", None) or a.title or "Untitled article"
    return "• " + source_line("", title, a.url, a.source, a.published)


def render_ingest(report, *, heading: str = "Done.", limit: int = CONTENT_LIMIT) -> str:
    """An IngestReport as one message: counts, then added/updated titles and skip reasons."""
    added, updated = list(report.added), list(report.updated)
    unchanged, skipped = list(report.unchanged), list(report.skipped)
    counts = (
        f"{heading} Added {len(added)} · updated {len(updated)} · "
        f"unchanged {len(unchanged)} · skipped {len(skipped)}"
    )
    lines: list[str] = []
    if added:
        lines.append("**Added**")
        lines += [trim(_article_line(a), 300) for a in added]
    if updated:
        lines.append("**Updated**")
        lines += [trim(_article_line(a), 300) for a in updated]
    if skipped:
        lines.append("**Skipped**")
        lines += [trim("• " + safe_text(one_line(f"{s.origin}: {s.reason}")), 300) for s in skipped]
    return compose_lines(counts, lines, limit)


def render_summary(result, *, heading: str = "Done.", limit: int = CONTENT_LIMIT) -> str:
    """A rebuild (or other) result: an IngestReport-like object in detail, else its str()."""
    if all(hasattr(result, k) for k in ("added", "updated", "unchanged", "skipped")):
        return render_ingest(result, heading=heading, limit=limit)
    text = one_line(str(result)) if result is not None else ""
    text = f"{heading} {text}".strip()
    return trim(safe_text(text[:1].upper() + text[1:]), limit)


def render_remove(report, *, limit: int = CONTENT_LIMIT) -> str:
    removed, missing = list(report.removed), list(report.not_found)
    head = f"Removed {plural(len(removed), 'article')}."
    if missing:
        head += f" Not found: {len(missing)}."
    lines = [trim(_article_line(a), 300) for a in removed]
    if missing:
        lines.append("**Not found**")
        lines += [trim("• " + safe_text(one_line(m)), 300) for m in missing]
    return compose_lines(head, lines, limit)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def render_stats(
    stats, *, own: str | None = None, undelivered: Sequence[str] = ()
) -> EmbedSpec:
    """StoreStats as an embed (the data directory path stays private to the host).

    With `own` (a server's collection), the store-wide counts, which include other servers'
    articles, are left out: the server sees its own collection and the others it searches.
    `undelivered`: admin summaries that reached nobody (their reply had expired and no DM got
    through), one field each, after the numbers."""

    def f(name: str, value: object) -> FieldSpec:
        return FieldSpec(name, trim(safe_text(str(value)), FIELD_VALUE_LIMIT) or "—", True)

    def collection(c) -> FieldSpec:
        lines = [
            f"{plural(c.articles, 'article')}, {plural(c.passages, 'passage')}",
            f"{human_bytes(c.size_bytes)} (estimated)",
        ]
        if c.feeds is not None:
            lines.append(f"Feeds: {c.feeds} followed, {c.feeds_failing} failing")
        last = c.last_ingest
        if last is None:
            lines.append("Last ingest: none")
        else:
            lines.append(
                f"Last ingest {last.at[:16].replace('T', ' ')}: {one_line(last.what)[:80]}"
                f" — {last.added} added, {last.updated} updated, {last.skipped} skipped"
            )
            lines += [f"skipped {one_line(r)[:120]}" for r in last.skipped_reasons[:3]]
        name = "This server" if c.name == own else ("Shared" if c.name == "shared" else c.name)
        return FieldSpec(
            trim(safe_text(name), 256), trim(safe_text("\n".join(lines)), FIELD_VALUE_LIMIT),
            False,
        )

    notes = tuple(
        FieldSpec(
            "Undelivered summary",
            # made by render_ingest & co. (articles' text already escaped and neutralised),
            # plus the admin's own <@id>, which an embed never pings; newlines kept
            trim(text.strip(), FIELD_VALUE_LIMIT) or "—",
        )
        for text in undelivered[-5:]
    )
    store_wide: tuple[FieldSpec, ...] = ()
    if own is None:
        store_wide = (f("Articles", stats.articles), f("Passages", stats.passages))
    size = (f("Size", human_bytes(stats.size_bytes)),) if own is None else ()
    return EmbedSpec(
        title="News index",
        color=COLOR_INFO,
        fields=notes_after(
            (
                *store_wide,
                f("Model", stats.model),
                f("Index", f"{stats.index_type}, {stats.dimension} dims"),
                *size,
                f("Last change", stats.last_change or "never"),
                *(collection(c) for c in stats.collections[:10]),
            ),
            notes,
        ),
    )


def notes_after(fields: tuple[FieldSpec, ...], notes: tuple[FieldSpec, ...]) -> tuple:
    """`fields` then `notes`, within the embed's 25 fields and 6,000 characters."""
    out = list(fields)
    total = sum(len(x.name) + len(x.value) for x in out) + len("News index")
    for note in notes:
        size = len(note.name) + len(note.value)
        if len(out) >= FIELD_COUNT_LIMIT or total + size > EMBED_TOTAL_LIMIT:
            break
        out.append(note)
        total += size
    return tuple(out)


def render_progress(stage: str, done: int, total: int) -> str:
    stage = one_line(stage) or "working"
    if total > 0:
        pct = min(100, int(done * 100 / total))
        text = f"Working… {stage}: {done}/{total} ({pct}%)"
    elif done:
        text = f"Working… {stage}: {done}"
    else:
        text = f"Working… {stage}"
    return trim(safe_text(text), CONTENT_LIMIT)


def render_channel_rules(
    allowed: Sequence[int], denied: Sequence[int], default_channels: Sequence[int]
) -> str:
    """Where the bot answers in this server, as one message (channel mentions never ping)."""

    def chans(ids: Sequence[int]) -> str:
        return ", ".join(f"<#{i}>" for i in ids)

    if allowed:
        lines = [f"I answer only in: {chans(allowed)}."]
    elif default_channels:
        lines = [f"No server setting; the bot's default channels apply: {chans(default_channels)}."]
    else:
        lines = ["I answer in every channel I can see."]
    if denied:
        lines.append(f"Never in: {chans(denied)}.")
    lines.append("Change with /news channels allow|deny|reset.")
    return compose_lines("", lines, CONTENT_LIMIT, more="…and {n} more lines")


def render_roles(roles: Sequence[tuple[int, str | None]]) -> str:
    """The asker roles of a server, by name (plain text: a name never pings)."""
    if not roles:
        return "Everyone may ask. Limit it with /news askers allow."
    names = [safe_text(one_line(name)) if name else f"role {rid}" for rid, name in roles]
    return compose_lines(
        "Only members with one of these roles (or admins) may ask:",
        ["• " + trim(n, 200) for n in names],
        CONTENT_LIMIT,
    )


def retry_phrase(seconds: float) -> str:
    s = max(1, int(seconds + 0.999))
    return f"{s} s"
