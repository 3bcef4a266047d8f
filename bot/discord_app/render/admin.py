"""/news replies: what an ingest, removal or rebuild did, the index's stats, progress, and
where and by whom the bot may be asked."""

from __future__ import annotations

from collections.abc import Sequence

from bot.discord_app.render.sources import source_line
from bot.discord_app.render.spec import (
    CONTENT_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_VALUE_LIMIT,
    EmbedSpec,
    FieldSpec,
)
from bot.discord_app.render.text import compose_lines, one_line, safe_text, trim

COLOR_INFO = 0x5865F2


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
