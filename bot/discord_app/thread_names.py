"""A thread's name from its question, readable as Discord shows it.

Discord renders mention markup in message text (`<@id>`, `<@&id>`, `<#id>`, custom emoji,
`<t:…>` timestamps) but shows a thread's name as plain text, so raw markup there reads as
`<@&1234…>`. The name shows what a reader of the question saw instead: @member, @role,
#channel, :emoji:, the date; a mention that cannot be resolved becomes @user, @role or
#channel. Thread names never ping anyone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

import discord

THREAD_NAME_MAX = 100  # Discord's limit on a channel's (and thread's) name

_MARKUP = re.compile(
    r"<@!?(?P<user>\d+)>|<@&(?P<role>\d+)>|<#(?P<channel>\d+)>"
    r"|<a?:(?P<emoji>\w+):\d+>|<t:(?P<time>-?\d{1,13})(?::[tTdDfFR])?>"
)


def readable(
    text: str, guild: discord.Guild | None, users: Mapping[int, str] | None = None
) -> str:
    """`text` with mention markup replaced by names: `users` (id: display name, e.g. from a
    message's resolved mentions) first, then the server's cache."""
    known = users or {}

    def name(m: re.Match[str]) -> str:
        if m["user"]:
            uid = int(m["user"])
            member = guild.get_member(uid) if guild is not None else None
            shown = known.get(uid) or (member.display_name if member is not None else None)
            return f"@{shown or 'user'}"
        if m["role"]:
            role = guild.get_role(int(m["role"])) if guild is not None else None
            return f"@{role.name if role is not None else 'role'}"
        if m["channel"]:
            channel = guild.get_channel_or_thread(int(m["channel"])) if guild else None
            return f"#{channel.name if channel is not None else 'channel'}"
        if m["emoji"]:
            return f":{m['emoji']}:"
        try:
            return datetime.fromtimestamp(int(m["time"]), UTC).strftime("%Y-%m-%d %H:%M UTC")
        except (OverflowError, OSError, ValueError):
            return "a date"

    return _MARKUP.sub(name, text)


def thread_name(
    question: str, guild: discord.Guild | None = None, users: Mapping[int, str] | None = None
) -> str:
    """The question, readable and on one line, within Discord's 100 characters."""
    text = " ".join(readable(question, guild, users).split()) or "Question"
    return text if len(text) <= THREAD_NAME_MAX else text[: THREAD_NAME_MAX - 1] + "…"
