"""What the bot may do in a channel, decided from its computed permissions there before any
request that needs them, and which messages are questions at all.

Discord refuses a request the bot has no permission for (403), and refused requests count
toward its invalid-request limit (10,000 per 10 minutes, then a temporary ban), so the bot
checks first: it answers by reply only where it may read the history, embeds only where it
may embed, opens a thread only where it may both create it and post in it, and stays quiet
where it may not post at all. Permissions come from the interaction's `app_permissions` for
slash commands and from the cache (`permissions_for`) for messages.
"""

from __future__ import annotations

import discord

CANNOT_REPLY = 160002  # Discord: "Cannot reply without permission to read message history"
#: Only a member's own messages are questions: a default message or a reply. System messages
#: (a thread started, a pin, a member joining…) carry text too (a THREAD_CREATED message's
#: is the thread's name), but nobody asked anything, and Discord refuses replies to them.
ASKABLE_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


def is_askable(message: discord.Message) -> bool:
    return message.type in ASKABLE_TYPES


def my_permissions(message: discord.Message) -> discord.Permissions | None:
    """The bot's permissions where `message` was posted; None when the cache cannot tell."""
    guild, channel = message.guild, message.channel
    if guild is None or guild.me is None or not hasattr(channel, "permissions_for"):
        return None
    return channel.permissions_for(guild.me)


def can_post_in(message: discord.Message) -> bool:
    """False when the cache says the bot may not post where `message` is (Send Messages, in a
    thread Send Messages in Threads): a typing indicator, an answer or a refusal there would
    all be refused. True when it may, or when the cache cannot tell (DMs included)."""
    perms = my_permissions(message)
    if perms is None:
        return True
    if isinstance(message.channel, discord.Thread):
        return perms.view_channel and perms.send_messages_in_threads
    return perms.view_channel and perms.send_messages


def can_reply_in(message: discord.Message) -> bool:
    """False when the cache says the bot may not read this channel's history (Discord refuses
    replies then); True when it may, or when the cache cannot tell (Discord will say)."""
    perms = my_permissions(message)
    return perms is None or perms.read_message_history


def can_embed_in(message: discord.Message) -> bool:
    """False when the bot lacks Embed Links here: Discord would drop its embeds."""
    perms = my_permissions(message)
    return perms is None or perms.embed_links


async def reply_or_post(message: discord.Message, **kwargs: object) -> discord.Message:
    """Reply to `message`; where a reply is refused (no Read Message History), the same
    content as a plain message in its channel."""
    if can_reply_in(message):
        try:
            return await message.reply(**kwargs)  # type: ignore[arg-type]
        except discord.HTTPException as exc:
            if exc.code != CANNOT_REPLY:
                raise
    kwargs.pop("mention_author", None)
    return await message.channel.send(**kwargs)  # type: ignore[arg-type]


def may_open_thread(perms: discord.Permissions | None) -> bool:
    """Whether a thread on an answer is both allowed (View Channel, Create Public Threads, and
    Read Message History, which a thread from a message needs) and usable: the bot must post
    its answers to the follow-ups there (Send Messages in Threads). Unknown: no thread."""
    return perms is not None and all(
        (
            perms.view_channel,
            perms.create_public_threads,
            perms.read_message_history,
            perms.send_messages_in_threads,
        )
    )
