"""Followed feeds as Discord text: the list of a server's feeds and what one poll did.

Times become Discord timestamps (`<t:UNIX:R>`), which every reader sees in their own time zone.
"""

from __future__ import annotations

from datetime import datetime

from bot.discord_app.render.text import safe_text, trim
from bot.feeds.following import FeedPoll, describe_interval
from index.feedstate import FeedRow

MESSAGE_LIMIT = 2000


def when(stamp: str | None) -> str:
    if not stamp:
        return "never"
    try:
        return f"<t:{int(datetime.fromisoformat(stamp).timestamp())}:R>"
    except ValueError:
        return safe_text(stamp)


def link(url: str) -> str:
    """A feed URL as an unembedded link; shown as inert text if it could break out of one."""
    if any(c in url for c in "<> \n`|*_~"):
        return safe_text(url)
    return f"<{url}>"


def render_feeds(rows: list[FeedRow], collection: str, failing_after: int) -> str:
    if not rows:
        return "This server follows no feeds. Add one with `/news follow url:`."
    lines = [f"**{len(rows)} feed{'s' if len(rows) != 1 else ''} followed**"]
    for row in rows:
        interval = row.followers.get(collection, row.interval_s)
        failing = row.failures >= failing_after
        head = f"• {link(row.url)} — every {describe_interval(interval)}"
        if failing:
            head += f" — **failing** ({row.failures} times in a row)"
        lines.append(head)
        lines.append(f"  last fetch {when(row.last_fetch_at)}, last new article"
                     f" {when(row.last_new_at)}")
        if row.last_error:
            lines.append(f"  last error {when(row.last_error_at)}: "
                         f"{trim(safe_text(row.last_error), 200)}")
        if row.waiting or row.failing_entries:
            lines.append(f"  entries not stored yet: {row.waiting:,} waiting,"
                         f" {row.failing_entries:,} failing (tried again later)")
    return trim("\n".join(lines), MESSAGE_LIMIT)


def render_followed(row: FeedRow, collection: str, poll: FeedPoll | None) -> str:
    interval = describe_interval(row.followers.get(collection, row.interval_s))
    head = f"Following {link(row.url)} every {interval}."
    if poll is None:
        return head + " Its first fetch comes with the next polling cycle."
    return trim(head + "\n" + render_poll(poll, collection), MESSAGE_LIMIT)


def render_poll(poll: FeedPoll, collection: str) -> str:
    if poll.status == "failed":
        return (f"Fetching it failed: {trim(safe_text(poll.error or ''), 300)}."
                " I'll try again later, waiting longer after each failure.")
    if poll.status == "not modified":
        return "Nothing new since the last fetch."
    added = poll.added.get(collection, [])
    lines = [f"{len(added)} article{'s' if len(added) != 1 else ''} added"
             f", {len(poll.skipped)} skipped."]
    for article in added[:10]:
        lines.append(f"+ {trim(safe_text(article.display_title), 150)}")
    if len(added) > 10:
        lines.append(f"…and {len(added) - 10} more")
    if poll.backlog:
        lines.append(poll.backlog[0].upper() + poll.backlog[1:] + ".")
    return "\n".join(lines)
