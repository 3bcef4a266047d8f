"""An emulator of the Discord API (REST v10 + gateway) for end-to-end tests of a discord.py bot.

It runs on ``127.0.0.1`` with aiohttp, in the test's event loop, and the *real* discord.py
client talks to it (see ``point_discord_py_at``).

Scenario::

    emu = DiscordEmulator()                   # or the ``emulator`` fixture (fixtures.py)
    await emu.start()
    guild = emu.add_guild("Newsroom")         # @everyone role id == guild id; bot is a member
    general = guild.add_text_channel("general")
    editors = guild.add_role("editors", Permission.MANAGE_GUILD)
    alice = guild.add_member("alice", roles=[editors])
    async with running_client(emu, bot):      # real discord.Client / commands.Bot
        ...

User actions (each returns the record of what was dispatched):

* ``await emu.send_message(channel, author, content, reply_to=msg)`` → ``Message``
  (MESSAGE_CREATE with member, mentions, message_reference + referenced_message);
* ``await emu.invoke_command("news channels allow", user=alice, channel=general,
  options={"channel": other})`` → ``Interaction`` (type 2, from the synced schema);
* ``await emu.click_button(message, user=alice, label="More")``,
  ``select_options``, ``submit_modal``, ``invoke_context_menu``, ``autocomplete``.

Waiting and inspecting (never sleep):

* ``await emu.wait_for_response(inter)`` then ``inter.response`` / ``inter.messages`` /
  ``inter.followups`` / ``inter.last_message`` (``Message.content``, ``.embeds``,
  ``.components``, ``.buttons``, ``.flags``, ``.ephemeral``, ``.allowed_mentions``,
  ``.mentions``, ``.text``);
* ``await emu.wait_for_message(channel=..., after=...)``, ``wait_for_reply(msg)``;
* ``emu.requests`` / ``emu.requests_to("POST", "/channels/{channel_id}/messages")`` /
  ``await emu.wait_for_request(...)``: every REST call with its JSON body and files;
  ``emu.unknown_requests`` for routes the emulator doesn't serve.

Threads and forums: ``guild.add_thread(parent, name, owner=...)``, ``guild.add_forum_channel``,
``await emu.start_thread(message, user, name)``, ``await emu.start_thread_without_message(
channel, user, name)`` (Discord then posts a THREAD_CREATED system message, type 18, named
after the thread; replies to system messages are refused with 50035),
``await emu.create_forum_post(forum, user, title, content)``; a thread follows its parent's
overwrites and needs Send Messages in Threads. Moderation:
``guild.timeout_member(member, seconds)``; the owner's command permissions:
``emu.set_command_permissions(guild, "news", [(role_or_member_or_channel, True)])``.

Discord's own limits, always on (``ratelimits.py``): per-route buckets with ``X-RateLimit-*``
headers on every response, the global 50/s limit, the invalid-request ban
(``emu.rate_limiter``; ``rate_limiter.provoked`` lists the 429s the bot brought on itself;
``DiscordEmulator(rate_limits=False)`` turns them off); heartbeats (a connection silent for
1.5 intervals is closed with 4009; ``gateway.largest_heartbeat_gap``).

Faults: ``emu.rate_limit(method, route, times=1, retry_after=0.05)`` (429 + headers),
``emu.fail(method, route, status=403, code=50013)``; gateway: ``emu.gateway.reconnect()``
(op 7), ``invalidate_session(resumable=...)`` (op 9), ``drop()``, ``close(code)``,
``request_heartbeat()``, ``ack_heartbeats = False``; ``wait_for_ready(n)`` /
``wait_for_resumed(n)`` to know the client came back; ``gateway.largest_heartbeat_gap()``.

Time and availability: ``emu.advance_time(s)`` moves the clock interaction deadlines are
measured on (the 3 s first response, the 15-minute token: 401 50027 after it);
``emu.guild_outage(guild, event=...)`` / ``guild_recovered(guild)`` (GUILD_DELETE or
GUILD_CREATE with ``unavailable: true``, or a late GUILD_CREATE; only interactions meanwhile),
``emu.remove_bot(guild)`` (GUILD_DELETE); ``user.accepts_dms = False`` (DMs get 50007).
What a client would show: ``Message.displayed_embeds`` / ``hidden_embeds`` (of several embeds
with one URL only the first is displayed) and ``Message.text``.
"""

from .fixtures import emulator, running_client
from .gateway import CloseCode, Gateway, Op, Session
from .intents import Intent
from .interactions import CallbackType, CommandInvocationError, Interaction, InteractionType
from .models import (
    Attachment,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    MessageFlags,
    Overwrite,
    Role,
    User,
)
from .patching import point_discord_py_at
from .permissions import ALL_PERMISSIONS, DEFAULT_BOT_PERMISSIONS, Permission
from .ratelimits import Limit, RateLimiter
from .recording import Fault, RecordedRequest, UploadedFile
from .server import DiscordEmulator, EmulatorError
from .validation import DiscordAPIError

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "Attachment",
    "CallbackType",
    "Channel",
    "ChannelType",
    "CloseCode",
    "CommandInvocationError",
    "DiscordAPIError",
    "DiscordEmulator",
    "EmulatorError",
    "Fault",
    "Gateway",
    "Guild",
    "Intent",
    "Interaction",
    "InteractionType",
    "Limit",
    "Member",
    "Message",
    "MessageFlags",
    "Op",
    "Overwrite",
    "Permission",
    "RateLimiter",
    "RecordedRequest",
    "Role",
    "Session",
    "UploadedFile",
    "User",
    "emulator",
    "point_discord_py_at",
    "running_client",
]
